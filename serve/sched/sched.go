// Package sched runs each probe target on its own interval: first runs
// spread across the interval by a hash of the target's key (no thundering
// herd), a global cap on probes running at once, never two runs of the
// same target at a time, missed ticks skipped rather than queued, and a
// graceful stop that lets in-flight runs finish within a grace period
// before cancelling them.
package sched

import (
	"context"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// Job is one scheduled target.
type Job struct {
	Key      string
	Interval time.Duration
	// Run performs one probe. Its context is cancelled when the scheduler
	// stops and the grace period has passed, or when the job is removed.
	Run func(ctx context.Context)
}

// Stats counts what the scheduler did.
type Stats struct {
	Runs    int64 // runs started
	Skipped int64 // ticks skipped because the previous run was still going
	Waiting int64 // runs currently waiting for a concurrency slot
	Running int64 // runs in progress
}

// Scheduler runs Jobs. Create with New; the zero value is not usable.
type Scheduler struct {
	clock Clock
	sem   chan struct{}
	start time.Time

	mu      sync.Mutex
	entries map[string]*entry
	stopped bool
	wg      sync.WaitGroup

	runs, skipped, waiting, running atomic.Int64
}

type entry struct {
	job    Job
	stop   chan struct{} // closed to stop scheduling this job
	ctx    context.Context
	cancel context.CancelFunc // cancels an in-flight run
	done   chan struct{}      // closed when the loop has exited
}

// New makes a scheduler that runs at most concurrency probes at once.
func New(clock Clock, concurrency int) *Scheduler {
	if clock == nil {
		clock = RealClock{}
	}
	if concurrency < 1 {
		concurrency = 1
	}
	return &Scheduler{clock: clock, sem: make(chan struct{}, concurrency), entries: map[string]*entry{}, start: clock.Now()}
}

// Offset is where in its interval a job's first run falls: a stable hash
// of the key, so restarts keep the same spread and tests can predict it.
func Offset(key string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	// FNV alone clusters keys that differ only in their last characters
	// (web-01, web-02, …); the splitmix64 finaliser spreads them.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return time.Duration(x % uint64(interval))
}

// Set makes the running jobs equal to jobs: new keys start, missing keys
// stop (their in-flight run is cancelled), and a key whose interval changed
// restarts. Jobs with an unchanged key and interval keep their rhythm but
// take the new Run function. When Set returns, removed jobs have fully
// stopped, so nothing more is recorded for them.
func (s *Scheduler) Set(jobs []Job) {
	var removed []*entry
	defer func() {
		for _, e := range removed {
			<-e.done
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	want := map[string]Job{}
	for _, j := range jobs {
		want[j.Key] = j
	}
	for key, e := range s.entries {
		j, ok := want[key]
		if !ok || j.Interval != e.job.Interval {
			close(e.stop)
			e.cancel()
			delete(s.entries, key)
			removed = append(removed, e)
		}
	}
	for _, j := range jobs {
		if e, ok := s.entries[j.Key]; ok {
			e.job.Run = j.Run
			continue
		}
		if j.Interval <= 0 {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		e := &entry{job: j, stop: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}
		s.entries[j.Key] = e
		s.wg.Add(1)
		go s.loop(e)
	}
}

func (s *Scheduler) loop(e *entry) {
	defer s.wg.Done()
	defer close(e.done)
	defer e.cancel()
	interval := e.job.Interval
	next := s.clock.Now().Add(Offset(e.job.Key, interval))
	for {
		wait := next.Sub(s.clock.Now())
		ch, stopTimer := s.clock.NewTimer(wait)
		select {
		case <-ch:
		case <-e.stop:
			stopTimer()
			return
		}
		// Wait for a slot, unless stopped meanwhile.
		s.waiting.Add(1)
		select {
		case s.sem <- struct{}{}:
			s.waiting.Add(-1)
		case <-e.stop:
			s.waiting.Add(-1)
			return
		}
		s.mu.Lock()
		run := e.job.Run
		s.mu.Unlock()
		s.runs.Add(1)
		s.running.Add(1)
		run(e.ctx)
		s.running.Add(-1)
		<-s.sem
		// The next tick is the first one still in the future: ticks missed
		// while this run (or the wait for a slot) went on are skipped, not
		// queued, so a slow target never runs back to back.
		now := s.clock.Now()
		next = next.Add(interval)
		for !next.After(now) {
			next = next.Add(interval)
			s.skipped.Add(1)
		}
	}
}

// Stats reports counters.
func (s *Scheduler) Stats() Stats {
	return Stats{Runs: s.runs.Load(), Skipped: s.skipped.Load(), Waiting: s.waiting.Load(), Running: s.running.Load()}
}

// Stop stops scheduling, lets in-flight runs finish for up to grace, then
// cancels them, and returns when every loop has exited. The grace period
// is measured on the scheduler's clock.
func (s *Scheduler) Stop(grace time.Duration) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.stopped = true
	entries := make([]*entry, 0, len(s.entries))
	for _, e := range s.entries {
		close(e.stop)
		entries = append(entries, e)
	}
	s.entries = map[string]*entry{}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	ch, stopTimer := s.clock.NewTimer(grace)
	defer stopTimer()
	select {
	case <-done:
		return
	case <-ch:
	}
	for _, e := range entries {
		e.cancel()
	}
	<-done
}
