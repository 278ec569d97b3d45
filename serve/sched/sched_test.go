package sched

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// recv waits for a value with a generous real-time bound: the bound only
// turns a hang into a failure, the tests never sleep to synchronise.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	default:
	}
}

type run struct {
	key string
	at  time.Time
}

// First runs land at start + Offset(key), spread across the interval.
func TestFirstRunsSpreadAcrossInterval(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 100)
	defer s.Stop(0)
	const interval = 60 * time.Second
	ran := make(chan run, 100)
	var jobs []Job
	offsets := map[string]time.Duration{}
	for i := range 20 {
		key := fmt.Sprintf("target-%02d", i)
		offsets[key] = Offset(key, interval)
		jobs = append(jobs, Job{Key: key, Interval: interval, Run: func(context.Context) { ran <- run{key, clk.Now()} }})
	}
	s.Set(jobs)
	if !clk.WaitForTimers(1, 5*time.Second) { // the dispatcher's one timer
		t.Fatal("the dispatcher did not arm its timer")
	}
	// Offsets are spread: 20 keys use at least 15 distinct 4-second slots
	// of the 60 s interval, and every offset is inside the interval.
	slots := map[time.Duration]bool{}
	var sorted []time.Duration
	for k, o := range offsets {
		if o < 0 || o >= interval {
			t.Fatalf("offset of %s = %v, outside [0, %v)", k, o, interval)
		}
		slots[o/(4*time.Second)] = true
		sorted = append(sorted, o)
	}
	if len(slots) < 10 {
		t.Errorf("offsets cluster in %d slots of 4 s, want them spread: %v", len(slots), sorted)
	}
	// Each job runs exactly at its offset.
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	now := time.Duration(0)
	for range 20 {
		next := sorted[0]
		sorted = sorted[1:]
		clk.Advance(next - now)
		now = next
		r := recv(t, ran, "a first run")
		if got := r.at.Sub(t0); got != offsets[r.key] {
			t.Errorf("%s first ran at +%v, want +%v", r.key, got, offsets[r.key])
		}
		for len(sorted) > 0 && sorted[0] == now { // equal offsets fire together
			sorted = sorted[1:]
			recv(t, ran, "a first run at the same offset")
		}
	}
	none(t, ran, "extra run")
}

// A run that outlasts its interval is never overlapped by the next one;
// the ticks it missed are skipped, and the next run falls on the grid.
func TestNoOverlapSkipsMissedTicks(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 10)
	defer s.Stop(0)
	const interval = 10 * time.Second
	started := make(chan time.Time, 10)
	release := make(chan struct{})
	var inflight, maxInflight atomic.Int32
	s.Set([]Job{{Key: "slow", Interval: interval, Run: func(context.Context) {
		n := inflight.Add(1)
		if n > maxInflight.Load() {
			maxInflight.Store(n)
		}
		started <- clk.Now()
		<-release
		inflight.Add(-1)
	}}})
	off := Offset("slow", interval)
	clk.WaitForTimers(1, 5*time.Second)
	clk.Advance(off)
	first := recv(t, started, "first run")
	// 35 s pass while the run is stuck: no second run may start.
	for range 7 {
		clk.Advance(5 * time.Second)
	}
	none(t, started, "overlapping run")
	release <- struct{}{}
	// Next tick: the first grid point after now (off + 40 s).
	clk.WaitForTimers(1, 5*time.Second)
	clk.Advance(off + 40*time.Second - clk.Now().Sub(t0))
	second := recv(t, started, "second run")
	if got := second.Sub(first); got != 40*time.Second {
		t.Errorf("second run %v after the first, want 40s (ticks at +10, +20, +30 skipped)", got)
	}
	if st := s.Stats(); st.Skipped != 3 || maxInflight.Load() != 1 {
		t.Errorf("skipped %d, max in flight %d; want 3 and 1", st.Skipped, maxInflight.Load())
	}
	close(release)
}

// At most `concurrency` runs go at once; the others wait for a slot.
func TestConcurrencyCap(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 2)
	const interval = time.Hour
	started := make(chan string, 10)
	release := make(chan struct{})
	var jobs []Job
	for i := range 5 {
		key := fmt.Sprintf("t%d", i)
		jobs = append(jobs, Job{Key: key, Interval: interval, Run: func(context.Context) {
			started <- key
			<-release
		}})
	}
	s.Set(jobs)
	clk.WaitForTimers(1, 5*time.Second) // the dispatcher's one timer
	clk.Advance(interval)               // every first run is due
	recv(t, started, "run 1")
	recv(t, started, "run 2")
	// The other three wait for a worker, not running.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Waiting != 3 && time.Now().Before(deadline) {
		runtimeYield()
	}
	if st := s.Stats(); st.Running != 2 || st.Waiting != 3 {
		t.Fatalf("running %d, waiting %d; want 2 and 3", st.Running, st.Waiting)
	}
	none(t, started, "a third concurrent run")
	release <- struct{}{}
	recv(t, started, "run 3 after a slot freed")
	none(t, started, "a fourth concurrent run")
	close(release)
	for range 2 {
		recv(t, started, "remaining runs")
	}
	s.Stop(0)
}

func runtimeYield() { time.Sleep(0) }

// Stop lets a run that finishes within the grace period finish, cancels
// one that does not once the grace period has passed on the clock, and
// returns only when every goroutine of the scheduler has exited.
func TestGracefulStop(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 10)
	const interval = time.Minute
	started := make(chan string, 2)
	finishQuick := make(chan struct{})
	quickDone := make(chan struct{})
	var quickErr, slowErr error
	var wg sync.WaitGroup
	wg.Add(2)
	s.Set([]Job{
		{Key: "quick", Interval: interval, Run: func(ctx context.Context) {
			defer wg.Done()
			started <- "quick"
			<-finishQuick
			quickErr = ctx.Err()
			close(quickDone)
		}},
		{Key: "slow", Interval: interval, Run: func(ctx context.Context) {
			defer wg.Done()
			started <- "slow"
			<-ctx.Done()
			slowErr = ctx.Err()
		}},
	})
	clk.WaitForTimers(1, 5*time.Second) // the dispatcher's one timer
	clk.Advance(interval)
	recv(t, started, "run")
	recv(t, started, "run")

	stopped := make(chan struct{})
	go func() { s.Stop(30 * time.Second); close(stopped) }()
	clk.WaitForTimers(1, 5*time.Second) // the grace timer
	close(finishQuick)                  // the quick run ends within grace
	recv(t, quickDone, "the quick run to end")
	none(t, stopped, "Stop returning before the slow run ended")
	clk.Advance(30 * time.Second) // grace over: the slow run is cancelled
	recv(t, stopped, "Stop to return")
	wg.Wait()
	if quickErr != nil {
		t.Errorf("quick run saw ctx error %v, want none (it finished within grace)", quickErr)
	}
	if slowErr == nil {
		t.Error("slow run was not cancelled after the grace period")
	}
	// No scheduling after Stop.
	s.Set([]Job{{Key: "late", Interval: time.Second, Run: func(context.Context) { t.Error("ran after Stop") }}})
	clk.Advance(time.Hour)
}

// Set removes, restarts and keeps jobs.
func TestSetReplacesJobs(t *testing.T) {
	clk := NewFakeClock(t0)
	s := New(clk, 10)
	defer s.Stop(0)
	ran := make(chan string, 10)
	mk := func(key, tag string, iv time.Duration) Job {
		return Job{Key: key, Interval: iv, Run: func(context.Context) { ran <- key + ":" + tag }}
	}
	s.Set([]Job{mk("a", "v1", time.Minute), mk("b", "v1", time.Minute)})
	clk.WaitForTimers(1, 5*time.Second) // the dispatcher's one timer
	// Remove b, give a a new Run with the same interval, add c.
	s.Set([]Job{mk("a", "v2", time.Minute), mk("c", "v1", time.Minute)})
	// b has stopped when Set returns; the dispatcher re-arms its timer.
	if !clk.WaitForTimers(1, 5*time.Second) {
		t.Fatal("timers did not settle")
	}
	clk.Advance(time.Minute)
	got := map[string]bool{recv(t, ran, "run"): true, recv(t, ran, "run"): true}
	if !got["a:v2"] || !got["c:v1"] {
		t.Errorf("runs = %v, want a:v2 and c:v1", got)
	}
	none(t, ran, "run of removed job b")
}
