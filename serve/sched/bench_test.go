//go:build unix

package sched

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchScheduler is what the benchmark drives: the scheduler or the
// baseline.
type benchScheduler interface {
	Set(jobs []Job)
	Stats() Stats
	Stop(grace time.Duration)
}

// BenchmarkSchedule100k schedules 100,000 jobs at a 1 s interval on the
// wall clock, with a trivial Run: 100,000 runs a second, 60 times the
// rate of 100,000 targets at 60 s. It runs the scheduler ("dispatcher")
// and, for comparison, the goroutine-per-job design it replaced
// ("baseline"). After one interval of warm-up, every job having run once,
// it waits for b.N runs, so ns/op is only the pace (about 10 µs a run);
// the costs are the metrics:
//
//	cpu-ns/run   process CPU time (user and system) per run: the overhead of dispatching it
//	B/job        heap and stack in use per job, after warm-up
//	goroutines   the most goroutines the scheduler held at once, after warm-up
//	set-ms       how long Set took to add the 100,000 jobs
//	ontime-%     runs, after warm-up, that started within OnTimeWindow of their slot
//	p99-late-ms  99th percentile of their lateness (the bucket's upper bound)
//	max-late-ms  the greatest lateness, warm-up included
//	stall-ms     after warm-up, the longest a 1 ms sleeper in the same process overslept:
//	             the machine's own noise, which bounds how punctual any design can be
//
// Run it alone, at a fixed count, for one pass of about 3 intervals:
//
//	go test -run '^$' -bench Schedule100k -benchtime 300000x ./serve/sched/
func BenchmarkSchedule100k(b *testing.B) {
	const concurrency = 32 // defaults.concurrency
	for _, d := range []struct {
		name string
		make func() benchScheduler
	}{
		{"dispatcher", func() benchScheduler { return New(RealClock{}, concurrency) }},
		{"baseline", func() benchScheduler { return newBaseline(RealClock{}, concurrency) }},
	} {
		b.Run(d.name, func(b *testing.B) { benchSchedule(b, d.make) })
	}
}

func benchSchedule(b *testing.B, makeScheduler func() benchScheduler) {
	const n, interval = 100_000, time.Second
	var ran atomic.Int64
	run := func(context.Context) { ran.Add(1) }
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{Key: fmt.Sprintf("target-%06d", i), Interval: interval, Run: run}
	}
	stall, stopSentinel := sentinel()
	defer stopSentinel()
	goroutines, mem := runtime.NumGoroutine(), liveBytes()
	s := makeScheduler()
	setStart := time.Now()
	s.Set(jobs)
	setTime := time.Since(setStart)
	time.Sleep(interval + interval/5)
	perJob := (float64(liveBytes()) - float64(mem)) / n
	before, cpuBefore := s.Stats(), cpuTime()
	stall.Store(0)
	peak := 0
	b.ResetTimer()
	for start := ran.Load(); ran.Load()-start < int64(b.N); {
		peak = max(peak, runtime.NumGoroutine()-goroutines)
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cpu, after := cpuTime()-cpuBefore, s.Stats()
	s.Stop(time.Second)
	runtime.KeepAlive(jobs)

	window := latenessSince(after, before)
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/run")
	b.ReportMetric(perJob, "B/job")
	b.ReportMetric(float64(peak), "goroutines")
	b.ReportMetric(float64(setTime.Microseconds())/1e3, "set-ms")
	b.ReportMetric(100*float64(window.OnTime)/float64(max(window.OnTime+window.Late, 1)), "ontime-%")
	b.ReportMetric(float64(window.LatenessQuantile(0.99).Microseconds())/1e3, "p99-late-ms")
	b.ReportMetric(float64(after.MaxLate.Microseconds())/1e3, "max-late-ms")
	b.ReportMetric(float64(time.Duration(stall.Load()).Microseconds())/1e3, "stall-ms")
}

// sentinel sleeps 1 ms at a time and records in stall its worst
// oversleep: how long the process went without being scheduled, which
// no scheduler can beat on a machine shared with other work.
func sentinel() (stall *atomic.Int64, stop func()) {
	stall = new(atomic.Int64)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			start := time.Now()
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if over := int64(time.Since(start) - time.Millisecond); over > stall.Load() {
				stall.Store(over)
			}
		}
	}()
	return stall, func() { close(done); <-exited }
}

// latenessSince is the lateness of the runs counted in after but not in
// before; MaxLate stays after's, the greatest of all.
func latenessSince(after, before Stats) Stats {
	d := Stats{OnTime: after.OnTime - before.OnTime, Late: after.Late - before.Late, MaxLate: after.MaxLate}
	for i := range d.Lateness {
		d.Lateness[i] = after.Lateness[i] - before.Lateness[i]
	}
	return d
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
