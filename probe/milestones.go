package probe

import (
	"sync"
	"time"
)

// Milestones keeps the request, wait and response phases of one exchange
// in order when they are reported from different goroutines: the reader
// can see the first response byte before the writer reports the request
// written, and then wait is empty rather than out of order. The zero
// value is not usable; set Rec and Response.
type Milestones struct {
	Rec *Recorder
	// Response is the phase the first response event opens (transfer for
	// HTTP, stream for gRPC).
	Response string

	mu       sync.Mutex
	answered bool
}

// Wrote opens wait at t (the request is written), unless the response
// already began.
func (m *Milestones) Wrote(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.answered {
		m.Rec.BeginAt(PhaseWait, t)
	}
}

// Answered opens the response phase at t, once; a request still in flight
// gets an empty wait first.
func (m *Milestones) Answered(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.answered {
		return
	}
	m.answered = true
	if m.Rec.InFlight() == PhaseRequest {
		m.Rec.BeginAt(PhaseWait, t)
	}
	m.Rec.BeginAt(m.Response, t)
}
