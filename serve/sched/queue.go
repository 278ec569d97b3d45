package sched

import (
	"container/heap"
	"context"
	"time"
)

// entry is one scheduled job. It has an item in the scheduler's timeline
// while idle and one in its ready queue while due and waiting for a
// worker, and none while a run is in flight. A removed entry's item is
// left where it is, stale, and dropped when it reaches the top.
type entry struct {
	key      string
	interval time.Duration
	run      func(context.Context)
	slot     time.Duration      // the next run's slot (the current run's while in flight), since the scheduler's epoch
	cancel   context.CancelFunc // set only while a run is in flight
	state    state
}

// state is where an entry is.
type state uint8

const (
	idle      state = iota // on the timeline, waiting for its slot
	waiting                // in the ready queue, waiting for a worker
	running                // a run is in flight
	cancelled              // removed while running; Set waits for the run to return
	gone                   // removed, or the scheduler stopped; its item, if any, is stale
)

// item is an entry's place in a queue. The slot is copied in so that
// ordering the heap reads only the heap's own array, not 100,000 entries
// scattered over memory.
type item struct {
	slot time.Duration
	e    *entry
}

// queue is a container/heap min-heap of items ordered by slot (ties by
// key, so runs due together start in a stable order).
type queue []item

func (q queue) Len() int { return len(q) }

func (q queue) Less(i, j int) bool {
	if q[i].slot != q[j].slot {
		return q[i].slot < q[j].slot
	}
	return q[i].e.key < q[j].e.key
}

func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push and Pop complete heap.Interface; push and pop below do their work
// without boxing an item in an interface, which would allocate.
func (q *queue) Push(x any) { *q = append(*q, x.(item)) }

// Pop removes the last item.
func (q *queue) Pop() any {
	n := len(*q) - 1
	it := (*q)[n]
	(*q)[n] = item{}
	*q = (*q)[:n]
	return it
}

// push adds e to q at its slot.
func (q *queue) push(e *entry) {
	*q = append(*q, item{e.slot, e})
	heap.Fix(q, len(*q)-1)
}

// pop removes and returns the entry with the earliest slot; q is not
// empty.
func (q *queue) pop() *entry {
	old := *q
	n := len(old) - 1
	e := old[0].e
	old[0] = old[n]
	old[n] = item{}
	*q = old[:n]
	if n > 0 {
		heap.Fix(q, 0)
	}
	return e
}

// compact drops the items of entries no longer in state st.
func (q *queue) compact(st state) {
	live := (*q)[:0]
	for _, it := range *q {
		if it.e.state == st {
			live = append(live, it)
		}
	}
	clear((*q)[len(live):])
	*q = live
	heap.Init(q)
}
