// Package sched runs each probe target on its own interval: first runs
// spread across the interval by a hash of the target's key (no thundering
// herd), a global cap on probes running at once, never two runs of the
// same target at a time, missed ticks skipped rather than queued, and a
// graceful stop that lets in-flight runs finish within a grace period
// before cancelling them.
//
// An idle target costs a map entry and a place in a min-heap of next-run
// times, not a goroutine or a timer. One dispatcher goroutine sleeps until
// the earliest slot (Set and Stop wake it early) and moves the jobs that
// are due to a ready queue, oldest slot first; workers, started on demand
// and never more than the concurrency cap, take runs from it and exit
// when it is empty. Only a run in flight has a context of its own.
package sched

import (
	"context"
	"hash/fnv"
	"sync"
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

// Stats counts what the scheduler did. A run's slot is the scheduled time
// of the tick it belongs to; its lateness is how long after the slot it
// started (waiting for a worker included).
type Stats struct {
	Runs    int64 // runs started
	Skipped int64 // ticks skipped because the previous run (or its wait for a worker) was still going
	Waiting int64 // due runs waiting for a worker
	Running int64 // runs in progress

	OnTime  int64         // runs that started within OnTimeWindow of their slot
	Late    int64         // runs that started later than that
	MaxLate time.Duration // the greatest lateness seen
	// Lateness counts runs by lateness: bucket i holds the runs later
	// than LatenessBounds()[i-1] and no later than LatenessBounds()[i];
	// the last bucket holds the runs later than every bound.
	Lateness [LatenessBuckets]int64
}

// Scheduler runs Jobs. Create with New; the zero value is not usable.
type Scheduler struct {
	clock Clock
	limit int           // the concurrency cap: workers never outnumber it
	epoch time.Time     // slots are durations since epoch
	wake  chan struct{} // buffered; a send wakes the dispatcher early
	setMu sync.Mutex    // serialises Set

	mu          sync.Mutex
	ended       sync.Cond // on mu: broadcast when a cancelled run has returned
	entries     map[string]*entry
	timeline    queue // idle entries by next slot
	ready       queue // due entries waiting for a worker, oldest slot first
	stale       int   // items on the timeline of entries since removed
	waiting     int   // entries in ready (not counting stale items)
	workers     int   // worker goroutines alive
	dispatching bool  // the dispatcher goroutine has started
	stopped     bool
	wg          sync.WaitGroup // the dispatcher and the workers

	runs, skipped, running int64
	late                   lateness
}

// New makes a scheduler that runs at most concurrency probes at once.
func New(clock Clock, concurrency int) *Scheduler {
	if clock == nil {
		clock = RealClock{}
	}
	s := &Scheduler{clock: clock, limit: max(concurrency, 1), epoch: clock.Now(), wake: make(chan struct{}, 1), entries: map[string]*entry{}}
	s.ended.L = &s.mu
	return s
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
// stopped, so nothing more is recorded for them. Of jobs sharing a key,
// the last counts.
func (s *Scheduler) Set(jobs []Job) {
	last := make(map[string]int, len(jobs)) // built before locking: runs go on meanwhile
	for i, j := range jobs {
		last[j.Key] = i
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	var inFlight []*entry
	for key, e := range s.entries {
		if i, ok := last[key]; ok && jobs[i].Interval == e.interval {
			e.run = jobs[i].Run
			continue
		}
		delete(s.entries, key)
		if s.remove(e) {
			inFlight = append(inFlight, e)
		}
	}
	if s.stale > len(s.timeline)/2 {
		s.timeline.compact(idle)
		s.stale = 0
	}
	// A restarted key starts only once its old run has returned, so one
	// key never runs twice at once.
	for _, e := range inFlight {
		for e.state == cancelled {
			s.ended.Wait()
		}
	}
	if s.stopped {
		return
	}
	if len(s.entries) == 0 {
		s.entries = make(map[string]*entry, len(last)) // sized at once rather than grown key by key
	}
	now := s.now()
	for i, j := range jobs {
		if last[j.Key] != i || j.Interval <= 0 || s.entries[j.Key] != nil {
			continue
		}
		e := &entry{key: j.Key, interval: j.Interval, run: j.Run, slot: now + Offset(j.Key, j.Interval)}
		s.entries[j.Key] = e
		s.timeline.push(e)
	}
	if !s.dispatching {
		s.dispatching = true
		s.wg.Add(1)
		go s.dispatch()
	}
	s.poke()
}

// remove stops e: its item in a queue goes stale, or its run in flight
// is cancelled; it reports whether a run was in flight.
func (s *Scheduler) remove(e *entry) (inFlight bool) {
	switch e.state {
	case idle:
		s.stale++
	case waiting:
		s.waiting--
	case running:
		e.cancel()
		e.state = cancelled
		return true
	}
	e.state = gone
	return false
}

// now is the scheduler's time, as a duration since its epoch.
func (s *Scheduler) now() time.Duration { return s.clock.Now().Sub(s.epoch) }

// poke wakes the dispatcher early.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch sleeps until the earliest slot or a poke, releases the due
// jobs, and repeats until the scheduler stops.
func (s *Scheduler) dispatch() {
	defer s.wg.Done()
	for {
		next, ok, stopped := s.release()
		if stopped {
			return
		}
		var fire <-chan time.Time // nil, never ready, while no job is idle
		stopTimer := func() {}
		if ok {
			fire, stopTimer = s.clock.NewTimerAt(next)
		}
		select {
		case <-fire:
		case <-s.wake:
		}
		stopTimer()
	}
}

// release moves the jobs whose slot has come to the ready queue, starts
// workers for them up to the cap, and says when the next slot falls (ok
// false when no job is idle).
func (s *Scheduler) release() (next time.Time, ok, stopped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return time.Time{}, false, true
	}
	now := s.now()
	for len(s.timeline) > 0 && (s.timeline[0].slot <= now || s.timeline[0].e.state != idle) {
		e := s.timeline.pop()
		if e.state != idle {
			s.stale--
			continue
		}
		e.state = waiting
		s.ready.push(e)
		s.waiting++
	}
	// Workers not running a run are about to take one from ready.
	for s.workers < s.limit && s.workers-int(s.running) < s.waiting {
		s.workers++
		s.wg.Add(1)
		go s.work()
	}
	if len(s.timeline) == 0 {
		return time.Time{}, false, false
	}
	return s.epoch.Add(s.timeline[0].slot), true, false
}

// work runs ready jobs, oldest slot first, until none is left.
func (s *Scheduler) work() {
	defer s.wg.Done()
	s.mu.Lock()
	for !s.stopped && s.waiting > 0 {
		e := s.ready.pop()
		if e.state != waiting {
			continue // removed while it waited
		}
		s.waiting--
		ctx := s.begin(e)
		run := e.run
		s.mu.Unlock()
		run(ctx)
		s.mu.Lock()
		s.end(e)
	}
	s.workers--
	s.mu.Unlock()
}

// begin marks e's run as in flight and returns the run's context.
func (s *Scheduler) begin(e *entry) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.state = running
	s.runs++
	s.running++
	s.late.record(s.now() - e.slot)
	return ctx
}

// end records that e's run returned and puts e back on the timeline at
// the first slot still in the future: ticks missed while this run (or
// the wait for a worker) went on are skipped, not queued, so a slow
// target never runs back to back.
func (s *Scheduler) end(e *entry) {
	e.cancel()
	e.cancel = nil
	s.running--
	switch {
	case e.state == cancelled:
		e.state = gone
		s.ended.Broadcast()
		return
	case s.stopped:
		e.state = gone
		return
	}
	missed := (s.now() - e.slot) / e.interval // slots after e.slot that have come
	s.skipped += int64(missed)
	e.slot += (missed + 1) * e.interval
	e.state = idle
	s.timeline.push(e)
	if s.timeline[0].e == e {
		s.poke()
	}
}

// Stats reports counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Runs: s.runs, Skipped: s.skipped, Waiting: int64(s.waiting), Running: s.running}
	s.late.fill(&st)
	return st
}

// Stop stops scheduling, lets in-flight runs finish for up to grace, then
// cancels them, and returns when every goroutine of the scheduler has
// exited. Runs waiting for a worker never start. The grace period is
// measured on the scheduler's clock.
func (s *Scheduler) Stop(grace time.Duration) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.stopped = true
	s.timeline, s.ready, s.stale, s.waiting = nil, nil, 0, 0
	s.poke()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	fire, stopTimer := s.clock.NewTimerAt(s.clock.Now().Add(grace))
	defer stopTimer()
	select {
	case <-done:
		return
	case <-fire:
	}
	s.mu.Lock()
	for _, e := range s.entries {
		if e.state == running {
			e.cancel()
		}
	}
	s.mu.Unlock()
	<-done
}
