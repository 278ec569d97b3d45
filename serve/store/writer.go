package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// addWait is how long Add waits for room in a full queue before it drops
// the record.
var addWait = time.Second

// writeTimeout bounds one batch write.
const writeTimeout = 30 * time.Second

// Writer batches records for a Store from one goroutine, so that probers
// hand results off without waiting for the disk: a batch is written (one
// transaction) when it holds maxBatch records, or maxDelay after its first
// record arrived, whichever comes first.
type Writer struct {
	s        *Store
	maxBatch int
	maxDelay time.Duration
	logf     func(format string, args ...any)

	// mu guards closed and the send side of ch: Add holds it shared while
	// sending, Close exclusively to close ch.
	mu     sync.RWMutex
	closed bool
	ch     chan Record

	dropped  atomic.Int64
	failed   atomic.Int64 // batches whose write failed
	done     chan struct{}
	once     sync.Once
	closeErr error // the final flush's error, set before done is closed

	// hmu guards failing: the first failure of the current run of failed
	// writes (nil once a write succeeds).
	hmu     sync.Mutex
	failing *WriteError

	clock    clock                  // dates WriteError.Since, times the batch delay
	onFlush  func(n int, err error) // test hook, called after each batch write
	received func(pending int)      // test hook, called after each record joins the batch
}

// clock is the Writer's time: Now dates WriteError.Since and Timer times
// a batch's maxDelay. Writers use realClock; tests drive a fake one.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a
	// function that stops it (true if that prevented the send).
	Timer(d time.Duration) (<-chan time.Time, func() bool)
}

// realClock is time itself.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// WriteError is what Writer.Health reports while writes fail: since when
// (the first failure with no successful write after it), how many batches
// failed since, and the latest failure.
type WriteError struct {
	Since   time.Time
	Batches int64
	Err     error
}

func (e *WriteError) Error() string {
	// Store errors name the store already.
	msg := strings.TrimPrefix(oneLine(e.Err.Error()), "store: ")
	return fmt.Sprintf("store: writes failing since %s: %s", e.Since.UTC().Format(time.RFC3339), msg)
}

func (e *WriteError) Unwrap() error { return e.Err }

// NewWriter starts a Writer for s. maxBatch ≤ 0 means 100, maxDelay ≤ 0
// means one second, and logf (nil for none) receives write failures and
// drops. Close the Writer before the Store.
func NewWriter(s *Store, maxBatch int, maxDelay time.Duration, logf func(format string, args ...any)) *Writer {
	return newWriter(s, maxBatch, maxDelay, logf, writerHooks{})
}

// writerHooks are the tests' ways into a Writer.
type writerHooks struct {
	clock    clock                  // nil = realClock
	onFlush  func(n int, err error) // called after each batch write
	received func(pending int)      // called after each record joins the batch
}

func newWriter(s *Store, maxBatch int, maxDelay time.Duration, logf func(format string, args ...any), h writerHooks) *Writer {
	if maxBatch <= 0 {
		maxBatch = 100
	}
	if maxDelay <= 0 {
		maxDelay = time.Second
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if h.clock == nil {
		h.clock = realClock{}
	}
	w := &Writer{
		s:        s,
		maxBatch: maxBatch,
		maxDelay: maxDelay,
		logf:     logf,
		// Room for several batches, so that a slow write (a checkpoint, a
		// prune holding the lock) does not stall the probers.
		ch:       make(chan Record, max(4*maxBatch, 256)),
		done:     make(chan struct{}),
		clock:    h.clock,
		onFlush:  h.onFlush,
		received: h.received,
	}
	go w.run()
	return w
}

// Add queues r for writing. It does not block while the queue has room;
// when the queue is full it waits up to one second, then drops r and
// counts it. Records added after Close, and invalid records (no Result or
// no started_at), are dropped and counted at once.
func (w *Writer) Add(r Record) {
	if err := validate(r); err != nil {
		w.drop("invalid record: %v", err)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop("record for %s added after close", targetOf(r))
		return
	}
	select {
	case w.ch <- r:
		return
	default:
	}
	t := time.NewTimer(addWait)
	defer t.Stop()
	select {
	case w.ch <- r:
	case <-t.C:
		w.drop("queue full for %v, record for %s", addWait, targetOf(r))
	}
}

func (w *Writer) drop(format string, args ...any) {
	n := w.dropped.Add(1)
	if n == 1 || n%100 == 0 {
		w.logf("store: dropped a record: "+format+" (%d dropped so far)", append(args, n)...)
	}
}

// Dropped is the number of records that never reached the database:
// dropped by Add (queue full, after Close, invalid) or lost with a failed
// batch write.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// FailedBatches is the number of batch writes that failed (their records
// are lost and counted in Dropped), since the Writer started.
func (w *Writer) FailedBatches() int64 { return w.failed.Load() }

// Health returns nil while writes succeed, and a *WriteError while they
// fail: from the first failed batch until a batch is written again. A
// Writer that has written nothing yet is healthy. It is meant for
// /healthz: a server whose history is being lost is not healthy, even
// though it still probes and serves.
func (w *Writer) Health() error {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.failing == nil {
		return nil
	}
	e := *w.failing
	return &e
}

// noteWrite updates the health after a batch write.
func (w *Writer) noteWrite(err error) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	switch {
	case err == nil:
		w.failing = nil
	case w.failing == nil:
		w.failing = &WriteError{Since: w.clock.Now(), Batches: 1, Err: err}
	default:
		w.failing.Batches++
		w.failing.Err = err
	}
}

// Close stops accepting records, writes everything pending and waits for
// that write. It returns the error of that last write, if any. It is safe
// to call more than once and from several goroutines.
func (w *Writer) Close() error {
	w.once.Do(func() {
		w.mu.Lock() // waits for Adds in flight (at most addWait)
		w.closed = true
		close(w.ch)
		w.mu.Unlock()
	})
	<-w.done
	return w.closeErr
}

func (w *Writer) run() {
	defer close(w.done)
	var (
		pending   []Record
		timerC    <-chan time.Time // nil while nothing is pending
		stopTimer func() bool      // stops timerC's timer; nil with it
	)
	flush := func() error {
		if stopTimer != nil {
			stopTimer()
		}
		timerC, stopTimer = nil, nil
		if len(pending) == 0 {
			return nil
		}
		batch := pending
		pending = make([]Record, 0, w.maxBatch)
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := w.s.Write(ctx, batch)
		cancel()
		if err != nil {
			w.failed.Add(1)
			w.dropped.Add(int64(len(batch)))
			w.logf("store: writing %d records failed, dropped: %v", len(batch), err)
		}
		w.noteWrite(err)
		if w.onFlush != nil {
			w.onFlush(len(batch), err)
		}
		return err
	}
	for {
		select {
		case r, ok := <-w.ch:
			if !ok {
				w.closeErr = flush()
				return
			}
			pending = append(pending, r)
			if len(pending) == 1 {
				timerC, stopTimer = w.clock.Timer(w.maxDelay)
			}
			if w.received != nil {
				w.received(len(pending))
			}
			if len(pending) >= w.maxBatch {
				flush()
			}
		case <-timerC:
			flush()
		}
	}
}
