package store

import (
	"sync"
	"testing"
	"time"
)

// flushLog records the batch sizes a Writer wrote.
type flushLog struct {
	mu    sync.Mutex
	sizes []int
}

func (f *flushLog) hook(n int, err error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, n)
	f.mu.Unlock()
}

func (f *flushLog) get() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.sizes...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func rec(i int) Record {
	return Record{Target: "api", Module: "web", Result: httpsResult(base.Add(time.Duration(i)*time.Second), 1, 2, 3, 4)}
}

func TestWriterBatchesBySize(t *testing.T) {
	s, _ := openTemp(t)
	var fl flushLog
	w := newWriter(s, 10, time.Hour, t.Logf, fl.hook)
	for i := range 25 {
		w.Add(rec(i))
	}
	waitFor(t, "two full batches", func() bool { return len(fl.get()) == 2 })
	if n := count(t, s, "SELECT count(*) FROM results"); n != 20 {
		t.Errorf("%d results written, want 20", n)
	}
	time.Sleep(20 * time.Millisecond)
	if got := fl.get(); len(got) != 2 || got[0] != 10 || got[1] != 10 {
		t.Errorf("batches %v, want [10 10] (5 pending)", got)
	}
	// Close flushes the rest.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM results"); n != 25 {
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
	var fl flushLog
	w := newWriter(s, 1000, 30*time.Millisecond, t.Logf, fl.hook)
	defer w.Close()
	start := time.Now()
	for i := range 3 {
		w.Add(rec(i))
	}
	waitFor(t, "a delayed flush", func() bool { return len(fl.get()) == 1 })
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Errorf("flushed after %v, before maxDelay", el)
	}
	if got := fl.get(); got[0] != 3 {
		t.Errorf("batches %v, want [3]", got)
	}
	// The delay restarts with the next record.
	w.Add(rec(3))
	waitFor(t, "a second delayed flush", func() bool { return len(fl.get()) == 2 })
	if n := count(t, s, "SELECT count(*) FROM results"); n != 4 {
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
	if n := count(t, s, "SELECT count(*) FROM results"); n != 7 {
		t.Errorf("%d results after Close, want 7", n)
	}
	w.Add(rec(8))
	if w.Dropped() != 1 {
		t.Errorf("Dropped = %d after Add after Close, want 1", w.Dropped())
	}
	if err := w.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM results"); n != 7 {
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
	if n := count(t, s, "SELECT count(*) FROM results"); int64(n)+w.Dropped() != 400 {
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
	if n := count(t, s, "SELECT count(*) FROM results"); n != 64+capacity {
		t.Errorf("%d results, want %d", n, 64+capacity)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 {
		t.Error("drops not logged")
	}
}
