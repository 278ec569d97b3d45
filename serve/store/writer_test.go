package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// flushLog records the batch sizes a Writer wrote and how many records
// joined a batch, and lets a test wait for either without polling.
type flushLog struct {
	mu       sync.Mutex
	sizes    []int
	received int
	changed  chan struct{} // signalled (without blocking) after each event
}

func newFlushLog() *flushLog { return &flushLog{changed: make(chan struct{}, 1)} }

func (f *flushLog) hooks(c clock) writerHooks {
	return writerHooks{clock: c, onFlush: f.hook, received: f.receive}
}

func (f *flushLog) hook(n int, err error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, n)
	f.mu.Unlock()
	f.signal()
}

func (f *flushLog) receive(int) {
	f.mu.Lock()
	f.received++
	f.mu.Unlock()
	f.signal()
}

func (f *flushLog) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *flushLog) get() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.sizes...)
}

// waitFor waits up to 5 s for cond, re-checking it after each event.
func (f *flushLog) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.changed:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitBatches waits until n batches were written.
func (f *flushLog) waitBatches(t *testing.T, n int) {
	t.Helper()
	f.waitFor(t, fmt.Sprintf("%d batches", n), func() bool { return len(f.sizes) >= n })
}

// waitReceived waits until n records in all joined a batch.
func (f *flushLog) waitReceived(t *testing.T, n int) {
	t.Helper()
	f.waitFor(t, fmt.Sprintf("%d records received", n), func() bool { return f.received >= n })
}

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	ch      chan time.Time
	stopped bool // stopped or fired
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, tm)
	return tm.ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !tm.stopped
		tm.stopped = true
		return was
	}
}

// advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	live := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.stopped:
		case !tm.at.After(c.now):
			tm.stopped = true
			tm.ch <- c.now
		default:
			live = append(live, tm)
		}
	}
	c.timers = live
}

// armed is the number of timers neither stopped nor fired.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.stopped {
			n++
		}
	}
	return n
}

func rec(i int) Record {
	return Record{Target: "api", Module: "web", Result: httpsResult(base.Add(time.Duration(i)*time.Second), 1, 2, 3, 4)}
}

func TestWriterBatchesBySize(t *testing.T) {
	s, _ := openTemp(t)
	fl := newFlushLog()
	w := newWriter(s, 10, time.Hour, t.Logf, fl.hooks(newFakeClock()))
	for i := range 25 {
		w.Add(rec(i))
	}
	// All 25 joined a batch: the two full ones were written before the
	// 21st arrived, and with the clock stopped nothing flushes the rest.
	fl.waitReceived(t, 25)
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 20 {
		t.Errorf("%d results written, want 20", n)
	}
	if got := fl.get(); len(got) != 2 || got[0] != 10 || got[1] != 10 {
		t.Errorf("batches %v, want [10 10] (5 pending)", got)
	}
	// Close flushes the rest.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 25 {
		t.Errorf("%d results after Close, want 25", n)
	}
	if got := fl.get(); len(got) != 3 || got[2] != 5 {
		t.Errorf("batches %v, want [10 10 5]", got)
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped %d", w.Dropped())
	}
}

func TestWriterBatchesByDelay(t *testing.T) {
	s, _ := openTemp(t)
	fl := newFlushLog()
	clk := newFakeClock()
	const maxDelay = 30 * time.Millisecond
	w := newWriter(s, 1000, maxDelay, t.Logf, fl.hooks(clk))
	defer w.Close()
	for i := range 3 {
		w.Add(rec(i))
	}
	fl.waitReceived(t, 3)
	// One timer, armed by the first record of the batch.
	if n := clk.armed(); n != 1 {
		t.Fatalf("%d timers armed for a pending batch, want 1", n)
	}
	clk.advance(maxDelay - time.Millisecond)
	if got := fl.get(); len(got) != 0 {
		t.Errorf("batches %v before maxDelay, want none", got)
	}
	clk.advance(time.Millisecond)
	fl.waitBatches(t, 1)
	if got := fl.get(); len(got) != 1 || got[0] != 3 {
		t.Errorf("batches %v, want [3]", got)
	}
	if n := clk.armed(); n != 0 {
		t.Errorf("%d timers armed with nothing pending, want 0", n)
	}
	// The delay restarts with the next record.
	clk.advance(time.Hour) // idle time does not count
	w.Add(rec(3))
	fl.waitReceived(t, 4)
	clk.advance(maxDelay - time.Millisecond)
	if got := fl.get(); len(got) != 1 {
		t.Errorf("batches %v before the second record's maxDelay, want [3]", got)
	}
	clk.advance(time.Millisecond)
	fl.waitBatches(t, 2)
	if got := fl.get(); len(got) != 2 || got[1] != 1 {
		t.Errorf("batches %v, want [3 1]", got)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 4 {
		t.Errorf("%d results, want 4", n)
	}
}

func TestWriterClose(t *testing.T) {
	s, _ := openTemp(t)
	w := NewWriter(s, 100, time.Hour, t.Logf)
	for i := range 7 {
		w.Add(rec(i))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 7 {
		t.Errorf("%d results after Close, want 7", n)
	}
	w.Add(rec(8))
	if w.Dropped() != 1 {
		t.Errorf("Dropped = %d after Add after Close, want 1", w.Dropped())
	}
	if err := w.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 7 {
		t.Errorf("%d results, want 7", n)
	}
	// Invalid records are dropped at Add.
	w2 := NewWriter(s, 100, time.Hour, nil)
	w2.Add(Record{Target: "x"})
	w2.Close()
	if w2.Dropped() != 1 {
		t.Errorf("invalid record not dropped")
	}
}

func TestWriterCloseConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	w := NewWriter(s, 16, time.Millisecond, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				w.Add(rec(g*1000 + i))
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	var cg sync.WaitGroup
	for range 3 {
		cg.Go(func() { w.Close() })
	}
	wg.Wait()
	cg.Wait()
	// Everything was either written or counted as dropped.
	if n := count(t, s, "SELECT count(*) FROM runs"); int64(n)+w.Dropped() != 400 {
		t.Errorf("written %d + dropped %d != 400", n, w.Dropped())
	}
}

func TestWriterDropsWhenFull(t *testing.T) {
	old := addWait
	addWait = 20 * time.Millisecond
	defer func() { addWait = old }()
	s, _ := openTemp(t)
	var logs []string
	var mu sync.Mutex
	w := NewWriter(s, 64, time.Hour, func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() })
	// Stall the store: the first batch's Write waits for the lock, so the
	// writer holds 64 records and the queue fills up.
	s.wmu.Lock()
	capacity := cap(w.ch)
	total := 64 + capacity + 5
	start := time.Now()
	for i := range total {
		w.Add(rec(i))
	}
	blocked := time.Since(start)
	if w.Dropped() != 5 {
		t.Errorf("Dropped = %d, want 5", w.Dropped())
	}
	if blocked > 5*addWait+time.Second {
		t.Errorf("Add blocked %v in all", blocked)
	}
	s.wmu.Unlock()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 64+capacity {
		t.Errorf("%d results, want %d", n, 64+capacity)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 {
		t.Error("drops not logged")
	}
}

// failWrites makes every write to s fail inside SQLite (a trigger aborts
// the insert), until the returned function drops the trigger.
func failWrites(t *testing.T, s *Store, msg string) (restore func()) {
	t.Helper()
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER fail_writes BEFORE INSERT ON runs
		BEGIN SELECT RAISE(ABORT, '`+msg+`'); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, `DROP TRIGGER fail_writes`); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriterHealth(t *testing.T) {
	s, _ := openTemp(t)
	fl := newFlushLog()
	clk := newFakeClock() // starts at 2026-11-21T10:00:00Z
	w := newWriter(s, 2, time.Hour, t.Logf, fl.hooks(clk))
	defer w.Close()
	flushed := func(n int) {
		t.Helper()
		w.Add(rec(2 * n))
		w.Add(rec(2*n + 1)) // a full batch: written at once
		fl.waitBatches(t, n)
	}

	if err := w.Health(); err != nil {
		t.Fatalf("Health before any write = %v", err)
	}
	flushed(1)
	if err := w.Health(); err != nil || w.FailedBatches() != 0 {
		t.Fatalf("after a good write: Health = %v, FailedBatches = %d", err, w.FailedBatches())
	}

	restore := failWrites(t, s, "disk on fire")
	flushed(2)
	clk.advance(time.Minute)
	flushed(3)
	err := w.Health()
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("Health while writes fail = %v, want a *WriteError", err)
	}
	if msg, want := err.Error(), "store: writes failing since 2026-11-21T10:00:00Z: write: "; !strings.HasPrefix(msg, want) ||
		!strings.Contains(msg, "disk on fire") || strings.Contains(msg, "\n") {
		t.Errorf("Health = %q, want one line %q… with SQLite's error", msg, want)
	}
	if !we.Since.Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) || we.Batches != 2 {
		t.Errorf("WriteError = %+v, want since the first failure, 2 batches", we)
	}
	if w.FailedBatches() != 2 || w.Dropped() != 4 {
		t.Errorf("FailedBatches = %d, Dropped = %d, want 2 and 4", w.FailedBatches(), w.Dropped())
	}

	restore()
	flushed(4)
	if err := w.Health(); err != nil {
		t.Errorf("Health after writes recovered = %v", err)
	}
	if w.FailedBatches() != 2 {
		t.Errorf("FailedBatches = %d after recovery, want 2 (a counter)", w.FailedBatches())
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 4 {
		t.Errorf("%d results, want 4 (batches 1 and 4)", n)
	}
}
