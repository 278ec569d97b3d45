package sched

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// baselineScheduler is the scheduler as it was before the dispatcher and
// its heap: one goroutine, timer, context and stop channel per job. It is
// kept only as the baseline BenchmarkSchedule100k compares against. Two
// changes from the original: it arms its timer with NewTimerAt (the Clock
// interface's one timer call), and it records lateness, under lateMu, so
// the benchmark can compare it; otherwise the code is as it was.
type baselineScheduler struct {
	clock Clock
	sem   chan struct{}

	mu      sync.Mutex
	entries map[string]*baselineEntry
	stopped bool
	wg      sync.WaitGroup

	runs, skipped, waiting, running atomic.Int64

	lateMu sync.Mutex
	late   lateness
}

type baselineEntry struct {
	job    Job
	stop   chan struct{} // closed to stop scheduling this job
	ctx    context.Context
	cancel context.CancelFunc // cancels an in-flight run
	done   chan struct{}      // closed when the loop has exited
}

func newBaseline(clock Clock, concurrency int) *baselineScheduler {
	if concurrency < 1 {
		concurrency = 1
	}
	return &baselineScheduler{clock: clock, sem: make(chan struct{}, concurrency), entries: map[string]*baselineEntry{}}
}

func (s *baselineScheduler) Set(jobs []Job) {
	var removed []*baselineEntry
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
		e := &baselineEntry{job: j, stop: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}
		s.entries[j.Key] = e
		s.wg.Add(1)
		go s.loop(e)
	}
}

func (s *baselineScheduler) loop(e *baselineEntry) {
	defer s.wg.Done()
	defer close(e.done)
	defer e.cancel()
	interval := e.job.Interval
	next := s.clock.Now().Add(Offset(e.job.Key, interval))
	for {
		ch, stopTimer := s.clock.NewTimerAt(next)
		select {
		case <-ch:
		case <-e.stop:
			stopTimer()
			return
		}
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
		s.lateMu.Lock()
		s.late.record(s.clock.Now().Sub(next))
		s.lateMu.Unlock()
		s.runs.Add(1)
		s.running.Add(1)
		run(e.ctx)
		s.running.Add(-1)
		<-s.sem
		now := s.clock.Now()
		next = next.Add(interval)
		for !next.After(now) {
			next = next.Add(interval)
			s.skipped.Add(1)
		}
	}
}

// Stats reports the counters in the new scheduler's form.
func (s *baselineScheduler) Stats() Stats {
	st := Stats{Runs: s.runs.Load(), Skipped: s.skipped.Load(), Waiting: s.waiting.Load(), Running: s.running.Load()}
	s.lateMu.Lock()
	s.late.fill(&st)
	s.lateMu.Unlock()
	return st
}

func (s *baselineScheduler) Stop(grace time.Duration) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.stopped = true
	entries := make([]*baselineEntry, 0, len(s.entries))
	for _, e := range s.entries {
		close(e.stop)
		entries = append(entries, e)
	}
	s.entries = map[string]*baselineEntry{}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	ch, stopTimer := s.clock.NewTimerAt(s.clock.Now().Add(grace))
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
