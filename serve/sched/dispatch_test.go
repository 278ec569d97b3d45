package sched

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle waits until no run is in flight or waiting, so a run that has
// just returned is back on the timeline before the test moves the clock.
func settle(t *testing.T, s *Scheduler) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if st.Running == 0 && st.Waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs did not settle: %+v", st)
		}
		runtimeYield()
	}
}

// hold blocks a run until release is closed or sent on, or its context
// is cancelled (so a failed test's Stop does not wait forever).
func hold(ctx context.Context, release <-chan struct{}) {
	select {
	case <-release:
	case <-ctx.Done():
	}
}

// waitStats waits until cond holds for the scheduler's Stats.
func waitStats(t *testing.T, s *Scheduler, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s.Stats())
		}
		runtimeYield()
	}
}

// liveBytes is the heap and stack in use after a collection.
func liveBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// Idle jobs cost no goroutine and a few hundred bytes each; when they all
// fall due at once, no more than the cap of workers start, and they exit
// when the work is done.
func TestNoGoroutinePerJob(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n, limit = 10_000, 8
	clk := NewFakeClock(t0)
	var ran atomic.Int64
	run := func(context.Context) { ran.Add(1) }
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{Key: fmt.Sprintf("target-%05d", i), Interval: time.Hour, Run: run}
	}
	before, mem := runtime.NumGoroutine(), liveBytes()
	s := New(clk, limit)
	s.Set(jobs)
	perJob := (float64(liveBytes()) - float64(mem)) / n
	if g := runtime.NumGoroutine(); g > before+1 {
		t.Errorf("%d goroutines after adding %d jobs, was %d: want at most one more (the dispatcher)", g, n, before)
	}
	t.Logf("%.0f bytes per idle job", perJob)
	if perJob > 1024 {
		t.Errorf("%.0f bytes per idle job, want a few hundred", perJob)
	}
	clk.Advance(time.Hour) // every job is due
	peak := 0
	for ran.Load() < n {
		peak = max(peak, runtime.NumGoroutine())
		runtimeYield()
	}
	if peak > before+1+limit {
		t.Errorf("%d goroutines while %d runs were due, want at most %d (dispatcher and %d workers)", peak, n, before+1+limit, limit)
	}
	settle(t, s)
	s.Stop(0)
	runtime.KeepAlive(jobs)
}

// Runs that wait for a worker start oldest slot first, and each exactly
// once, however many of them came due while the worker was busy.
func TestWaitingRunsOldestSlotFirst(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 1)
	defer s.Stop(0)
	const interval = time.Hour
	started := make(chan string, 10)
	release := make(chan struct{})
	var keys []string
	var jobs []Job
	for i := range 6 {
		key := fmt.Sprintf("w%d", i)
		keys = append(keys, key)
		jobs = append(jobs, Job{Key: key, Interval: interval, Run: func(ctx context.Context) {
			started <- key
			hold(ctx, release)
		}})
	}
	sort.Slice(keys, func(i, j int) bool { return Offset(keys[i], interval) < Offset(keys[j], interval) })
	s.Set(jobs)
	clk.Advance(Offset(keys[0], interval))
	if got := recv(t, started, "the first run"); got != keys[0] {
		t.Fatalf("first run %s, want %s", got, keys[0])
	}
	// The others come due one by one, latest slot last, while the only
	// worker is busy.
	for i, key := range keys[1:] {
		clk.Advance(Offset(key, interval) - clk.Now().Sub(t0))
		waitStats(t, s, "a waiting run", func(st Stats) bool { return st.Waiting == int64(i+1) })
	}
	none(t, started, "a second concurrent run")
	for _, want := range keys[1:] {
		release <- struct{}{}
		if got := recv(t, started, "the next waiting run"); got != want {
			t.Errorf("started %s, want %s (oldest slot first)", got, want)
		}
	}
	close(release)
	settle(t, s)
	none(t, started, "a run queued twice")
	if st := s.Stats(); st.Runs != 6 || st.Skipped != 0 {
		t.Errorf("runs %d, skipped %d; want 6 and 0", st.Runs, st.Skipped)
	}
}

// A run that waits for a worker past its job's next slot runs once, late,
// and the slots it missed are skipped; the job stays on its grid.
func TestWaitPastNextSlotSkips(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 1)
	defer s.Stop(0)
	const interval = 10 * time.Second
	blocker, other := "a", "b"
	if Offset(blocker, interval) > Offset(other, interval) {
		blocker, other = other, blocker
	}
	type start struct {
		key string
		at  time.Duration
	}
	started := make(chan start, 10)
	release := make(chan struct{})
	var blocked atomic.Bool
	mk := func(key string) Job {
		return Job{Key: key, Interval: interval, Run: func(ctx context.Context) {
			started <- start{key, clk.Now().Sub(t0)}
			if key == blocker && !blocked.Swap(true) {
				hold(ctx, release)
			}
		}}
	}
	s.Set([]Job{mk(blocker), mk(other)})
	bOff, oOff := Offset(blocker, interval), Offset(other, interval)
	clk.Advance(bOff)
	recv(t, started, "the blocking run")
	// other's slot and the next two pass while it waits for the worker.
	clk.Advance(oOff + 25*time.Second - bOff)
	none(t, started, "a run while the only worker is busy")
	close(release)
	if got := recv(t, started, "the waiting run"); got.key != other || got.at != oOff+25*time.Second {
		t.Fatalf("next run %v, want %s at +%v", got, other, oOff+25*time.Second)
	}
	settle(t, s)
	none(t, started, "a missed slot run back to back")
	st := s.Stats()
	wantSkipped := int64((oOff+25*time.Second-bOff)/interval) + 2
	if st.Skipped != wantSkipped || st.Late != 1 || st.MaxLate != 25*time.Second {
		t.Errorf("skipped %d, late %d, max lateness %v; want %d, 1 and 25s", st.Skipped, st.Late, st.MaxLate, wantSkipped)
	}
	// other's next run is back on its grid: the first slot after the late run.
	clk.Advance(oOff + 30*time.Second - clk.Now().Sub(t0))
	for {
		got := recv(t, started, "a run on the grid")
		if got.key == other {
			if got.at != oOff+30*time.Second {
				t.Errorf("%s ran at +%v, want +%v", other, got.at, oOff+30*time.Second)
			}
			break
		}
	}
}

// Stats counts runs by how long after their slot they started.
func TestLatenessCounters(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 4)
	defer s.Stop(0)
	const interval = 10 * time.Second
	ran := make(chan struct{}, 10)
	s.Set([]Job{{Key: "late", Interval: interval, Run: func(context.Context) { ran <- struct{}{} }}})
	off := Offset("late", interval)
	if st := s.Stats(); st.LatenessQuantile(0.99) != 0 || st.OnTime+st.Late != 0 {
		t.Fatalf("stats before any run: %+v", st)
	}
	// Slots at off, off+10s, off+20s: started on time, 500 ms late, 3 s late.
	for _, at := range []time.Duration{off, off + 10*time.Second + 500*time.Millisecond, off + 23*time.Second} {
		clk.Advance(at - clk.Now().Sub(t0))
		recv(t, ran, "a run")
		settle(t, s)
	}
	st := s.Stats()
	if st.Runs != 3 || st.OnTime != 2 || st.Late != 1 || st.MaxLate != 3*time.Second || st.Skipped != 0 {
		t.Errorf("runs %d, on time %d, late %d, max %v, skipped %d; want 3, 2, 1, 3s, 0", st.Runs, st.OnTime, st.Late, st.MaxLate, st.Skipped)
	}
	bounds := LatenessBounds()
	bucket := func(d time.Duration) int { return sort.Search(len(bounds), func(i int) bool { return bounds[i] >= d }) }
	want := [LatenessBuckets]int64{}
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 3 * time.Second} {
		want[bucket(d)]++
	}
	if st.Lateness != want {
		t.Errorf("lateness buckets %v, want %v (bounds %v)", st.Lateness, want, bounds)
	}
	for q, want := range map[float64]time.Duration{0.3: bounds[0], 0.5: 500 * time.Millisecond, 0.99: 3 * time.Second} {
		if got := st.LatenessQuantile(q); got != want {
			t.Errorf("LatenessQuantile(%v) = %v, want %v", q, got, want)
		}
	}
}

// Set while runs are in flight: a removed job's run and a restarted one's
// are cancelled and have returned when Set returns; a kept job's run goes
// on, and its next run, on its old rhythm, is the new Run; the restarted
// job starts again at its new offset.
func TestSetDuringRuns(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 10)
	defer s.Stop(0)
	const interval = time.Minute
	type start struct {
		tag string
		at  time.Duration
	}
	started := make(chan start, 10)
	release := make(chan struct{})
	var returned atomic.Int32
	mk := func(key, tag string, iv time.Duration) Job {
		return Job{Key: key, Interval: iv, Run: func(ctx context.Context) {
			started <- start{key + ":" + tag, clk.Now().Sub(t0)}
			select {
			case <-ctx.Done():
			case <-release:
			}
			if ctx.Err() != nil {
				returned.Add(1)
			}
		}}
	}
	s.Set([]Job{mk("keep", "v1", interval), mk("drop", "v1", interval), mk("restart", "v1", interval)})
	clk.Advance(interval)
	for range 3 {
		recv(t, started, "a first run")
	}
	s.Set([]Job{mk("keep", "v2", interval), mk("restart", "v2", 2*interval)})
	if n := returned.Load(); n != 2 {
		t.Fatalf("%d cancelled runs had returned when Set returned, want 2 (drop and restart)", n)
	}
	if st := s.Stats(); st.Running != 1 {
		t.Fatalf("running %d after Set, want 1 (keep, not cancelled)", st.Running)
	}
	close(release)
	settle(t, s)
	keepAt := Offset("keep", interval) + interval
	restartAt := interval + Offset("restart", 2*interval)
	steps := []start{{"keep:v2", keepAt}, {"restart:v2", restartAt}}
	sort.Slice(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	first := map[string]time.Duration{} // each tag's first run; later ones are the jobs' next ticks
	for _, step := range steps {
		clk.Advance(step.at - clk.Now().Sub(t0))
		for _, ok := first[step.tag]; !ok; _, ok = first[step.tag] {
			got := recv(t, started, step.tag)
			if _, dup := first[got.tag]; !dup {
				first[got.tag] = got.at
			}
		}
	}
	if len(first) != 2 || first["keep:v2"] != keepAt || first["restart:v2"] != restartAt {
		t.Errorf("first runs after Set %v, want keep:v2 at +%v and restart:v2 at +%v", first, keepAt, restartAt)
	}
	none(t, started, "a run of the removed job")
}

// Stop drops the runs waiting for a worker, returns as soon as the runs
// in flight finish (before the grace period is over), and leaves no
// goroutine behind.
func TestStopWithinGrace(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := NewFakeClock(t0)
	s := New(clk, 1)
	started := make(chan string, 10)
	release := make(chan struct{})
	var cancelled atomic.Bool
	var jobs []Job
	for i := range 3 {
		key := fmt.Sprintf("s%d", i)
		jobs = append(jobs, Job{Key: key, Interval: time.Hour, Run: func(ctx context.Context) {
			started <- key
			hold(ctx, release)
			cancelled.Store(ctx.Err() != nil)
		}})
	}
	s.Set(jobs)
	clk.Advance(time.Hour)
	recv(t, started, "the first run")
	waitStats(t, s, "two waiting runs", func(st Stats) bool { return st.Waiting == 2 })
	stopped := make(chan struct{})
	go func() { s.Stop(time.Minute); close(stopped) }()
	waitStats(t, s, "Stop to drop the waiting runs", func(st Stats) bool { return st.Waiting == 0 })
	none(t, stopped, "Stop returning while a run is in flight")
	close(release)
	recv(t, stopped, "Stop to return once the run finished")
	none(t, started, "a waiting run started after Stop")
	if cancelled.Load() {
		t.Error("the run that finished within grace saw its context cancelled")
	}
	if st := s.Stats(); st.Runs != 1 || st.Running != 0 || st.Waiting != 0 {
		t.Errorf("after Stop: %+v, want 1 run, none running or waiting", st)
	}
}

// On the wall clock, short-interval jobs run repeatedly, never two runs
// of one key at once, and Stop leaves no goroutine behind.
func TestRealClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := New(nil, 4)
	const n = 20
	var inflight [n]atomic.Int32
	var runs [n]atomic.Int32
	var overlap atomic.Bool
	var jobs []Job
	for i := range n {
		jobs = append(jobs, Job{Key: fmt.Sprintf("r%d", i), Interval: 5 * time.Millisecond, Run: func(context.Context) {
			if inflight[i].Add(1) > 1 {
				overlap.Store(true)
			}
			time.Sleep(time.Millisecond)
			inflight[i].Add(-1)
			runs[i].Add(1)
		}})
	}
	s.Set(jobs)
	deadline := time.Now().Add(10 * time.Second)
	for i := range n {
		for runs[i].Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	s.Stop(time.Second)
	for i := range n {
		if runs[i].Load() < 3 {
			t.Errorf("job %d ran %d times, want at least 3", i, runs[i].Load())
		}
	}
	if overlap.Load() {
		t.Error("two runs of one key overlapped")
	}
}

// A job removed while its run waits for a worker never runs, and the
// runs waiting behind it still do.
func TestSetRemovesWaitingRun(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 1)
	defer s.Stop(0)
	const interval = time.Hour
	started := make(chan string, 10)
	release := make(chan struct{})
	mk := func(key string) Job {
		return Job{Key: key, Interval: interval, Run: func(ctx context.Context) {
			started <- key
			hold(ctx, release)
		}}
	}
	keys := []string{"x", "y", "z"}
	sort.Slice(keys, func(i, j int) bool { return Offset(keys[i], interval) < Offset(keys[j], interval) })
	s.Set([]Job{mk("x"), mk("y"), mk("z")})
	clk.Advance(interval)
	if got := recv(t, started, "the first run"); got != keys[0] {
		t.Fatalf("first run %s, want %s", got, keys[0])
	}
	waitStats(t, s, "two waiting runs", func(st Stats) bool { return st.Waiting == 2 })
	s.Set([]Job{mk(keys[0]), mk(keys[2])}) // the next in line goes
	if st := s.Stats(); st.Waiting != 1 || st.Running != 1 {
		t.Fatalf("after removing %s: %+v, want one waiting and one running", keys[1], st)
	}
	close(release)
	if got := recv(t, started, "the run behind the removed one"); got != keys[2] {
		t.Errorf("next run %s, want %s (%s was removed)", got, keys[2], keys[1])
	}
	settle(t, s)
	none(t, started, "the removed job's run")
}

// Restarting every job again and again leaves stale items on the timeline
// that are compacted away, and only the last jobs run, once each.
func TestSetChurnKeepsTimelineSmall(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 8)
	defer s.Stop(0)
	const n = 100
	var ran atomic.Int64
	run := func(context.Context) { ran.Add(1) }
	for round := range 50 {
		jobs := make([]Job, n)
		for i := range jobs {
			jobs[i] = Job{Key: fmt.Sprintf("c%d", i), Interval: time.Hour + time.Duration(round)*time.Second, Run: run}
		}
		s.Set(jobs)
		s.mu.Lock()
		size := len(s.timeline)
		s.mu.Unlock()
		if size > 2*n {
			t.Fatalf("round %d: %d items on the timeline for %d jobs", round, size, n)
		}
	}
	clk.Advance(time.Hour + 49*time.Second) // the last interval: each job is due once
	waitStats(t, s, "every job to run", func(st Stats) bool { return st.Runs == n })
	settle(t, s)
	if got := ran.Load(); got != n {
		t.Errorf("%d runs, want %d", got, n)
	}
}
