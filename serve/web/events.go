package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
)

// Limits of GET /api/v1/events.
const (
	// DefaultMaxStreams is how many event streams may be open at once;
	// one more is answered 503.
	DefaultMaxStreams = 64
	// streamBuffer is how many events wait for a slow client; past it
	// the stream drops what waits and tells the client to resync.
	streamBuffer = 256
	// heartbeatEvery is how often an idle stream sends a comment, so that
	// proxies and the browser see it alive.
	heartbeatEvery = 15 * time.Second
	// streamWriteTimeout bounds one write to a client.
	streamWriteTimeout = 10 * time.Second
	// maxStreamTargets bounds the target= parameters of one stream.
	maxStreamTargets = 1000
)

// Events fans the runs serve records out to the GET /api/v1/events
// streams (server-sent events): an "event: target" for each run, whose
// data is a TargetEvent. Publishing never blocks a probe: each stream has
// a bounded buffer, and a stream that falls behind has its waiting events
// dropped and gets "event: resync" (its client should fetch the state
// again). With no stream open, Before and After cost an atomic load and
// allocate nothing. A nil *Events is valid and does nothing.
type Events struct {
	state  *State
	alerts Alerts // nil: the state comes from the runs alone

	open atomic.Int32 // streams open: 0 = nobody listens

	mu      sync.RWMutex
	streams map[*stream]struct{}
	closed  bool

	maxStreams int
	heartbeat  time.Duration
}

// NewEvents returns the hub for state's runs and alerts' states (alerts
// may be nil).
func NewEvents(state *State, alerts Alerts) *Events {
	return &Events{state: state, alerts: alerts, streams: map[*stream]struct{}{},
		maxStreams: DefaultMaxStreams, heartbeat: heartbeatEvery}
}

// TargetEvent is the data of an "event: target": a run of a target was
// recorded. State is the target's state as the API and the overview show
// it (up, degraded, down, flapping, pending: the state with memory when
// serve runs its alert manager, else what the run implies), From the
// state before the run, Run the run's own class (ok, warning, critical,
// failing).
type TargetEvent struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	From    string    `json:"from"`
	Changed bool      `json:"changed"` // State differs from From
	Run     string    `json:"run"`
	LastRun EventRun  `json:"last_run"`
	At      time.Time `json:"at"` // when the event was sent
}

// EventRun is the run a TargetEvent is about.
type EventRun struct {
	StartedAt time.Time `json:"started_at"`
	Success   bool      `json:"success"`
	TotalMS   float64   `json:"total_ms"`
}

// Prior is a target's state before a run, from Before for After; its
// zero value (nobody listened) makes After do nothing.
type Prior struct {
	on    bool
	state string
}

// Before notes target's state ahead of recording a run (State.Record and
// the alert manager's Observe), when a stream is open.
func (e *Events) Before(target string) Prior {
	if e == nil || e.open.Load() == 0 {
		return Prior{}
	}
	return Prior{on: true, state: e.stateOf(target)}
}

// After publishes the run r of target, recorded since Before gave p.
func (e *Events) After(p Prior, target string, r *probe.Result) {
	if !p.on || r == nil {
		return
	}
	ev := TargetEvent{Name: target, State: e.stateOf(target), From: p.state, Run: resultState(r),
		LastRun: EventRun{StartedAt: r.StartedAt.UTC(), Success: r.Success, TotalMS: r.TotalMS}, At: time.Now().UTC()}
	ev.Changed = ev.State != ev.From
	e.publish(&ev)
}

// stateOf is target's state as a TargetEvent names it.
func (e *Events) stateOf(target string) string {
	if e.alerts != nil {
		if st := e.alerts.State(target); st != "" {
			return string(st)
		}
		return StatePending
	}
	if e.state == nil {
		return StatePending
	}
	return eventRunState(e.state.lastState(target))
}

// eventRunState is the target state a run's class implies on its own.
func eventRunState(run string) string {
	switch run {
	case StateOK:
		return string(alert.StateUp)
	case StateWarning, StateCritical:
		return string(alert.StateDegraded)
	case StateFailing:
		return string(alert.StateDown)
	}
	return StatePending
}

// lastState is the class of target's latest run, StatePending without one.
func (s *State) lastState(target string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ts := s.targets[target]; ts != nil {
		return stateOf(ts.last)
	}
	return StatePending
}

// publish sends ev to every stream that wants it, without waiting.
func (e *Events) publish(ev *TargetEvent) {
	data, err := json.Marshal(ev)
	if err != nil {
		return // cannot happen: strings, bools, times and a float
	}
	msg := make([]byte, 0, len(data)+len("event: target\ndata: \n\n"))
	msg = append(msg, "event: target\ndata: "...)
	msg = append(append(msg, data...), "\n\n"...)
	e.mu.RLock()
	defer e.mu.RUnlock()
	for st := range e.streams {
		if !st.wants(ev) {
			continue
		}
		select {
		case st.ch <- msg:
		default:
			st.dropped.Add(1)
			select {
			case st.kick <- struct{}{}:
			default:
			}
		}
	}
}

// Close ends every stream and refuses new ones: http.Server.Shutdown
// waits for handlers, and a stream's never returns by itself. A write
// stuck on a client that reads nothing is cut short.
func (e *Events) Close() {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	for st := range e.streams {
		close(st.done)
		if st.rc != nil {
			_ = st.rc.SetWriteDeadline(time.Now()) // the handler is still running: it unsubscribes under e.mu
		}
	}
}

// Streams is how many event streams are open.
func (e *Events) Streams() int {
	if e == nil {
		return 0
	}
	return int(e.open.Load())
}

// stream is one open GET /api/v1/events.
type stream struct {
	ch      chan []byte
	kick    chan struct{} // an event was dropped
	dropped atomic.Int64  // events dropped since the last resync
	done    chan struct{} // closed by Close
	rc      *http.ResponseController
	targets map[string]bool // nil: every target
	changed bool            // only events with Changed
}

func (st *stream) wants(ev *TargetEvent) bool {
	return (!st.changed || ev.Changed) && (st.targets == nil || st.targets[ev.Name])
}

var (
	errStreamsFull   = errors.New("too many event streams")
	errStreamsClosed = errors.New("shutting down")
)

func (e *Events) subscribe(st *stream) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return errStreamsClosed
	case len(e.streams) >= e.maxStreams:
		return errStreamsFull
	}
	e.streams[st] = struct{}{}
	e.open.Store(int32(len(e.streams)))
	return nil
}

func (e *Events) unsubscribe(st *stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.streams, st)
	e.open.Store(int32(len(e.streams)))
}

// apiEvents serves GET /api/v1/events: a text/event-stream of
// TargetEvents, all targets' or those named by target= (repeatable), all
// runs or with changed=1 only those that changed a state.
func (s *server) apiEvents(w http.ResponseWriter, r *http.Request) {
	e := s.d.Events
	if e == nil {
		s.apiError(w, http.StatusNotFound, "no event stream: serve publishes none")
		return
	}
	st := &stream{ch: make(chan []byte, streamBuffer), kick: make(chan struct{}, 1), done: make(chan struct{}),
		rc: http.NewResponseController(w)}
	q := r.URL.Query()
	for k := range q {
		if k != "target" && k != "changed" {
			s.apiError(w, http.StatusBadRequest, "unknown parameter "+k+": want target=NAME (repeatable) or changed=1")
			return
		}
	}
	if names := q["target"]; len(names) > 0 {
		if len(names) > maxStreamTargets {
			s.apiError(w, http.StatusBadRequest, "too many target parameters: at most 1000")
			return
		}
		st.targets = make(map[string]bool, len(names))
		for _, n := range names {
			st.targets[n] = true
		}
	}
	switch strings.ToLower(q.Get("changed")) {
	case "", "0", "false":
	case "1", "true":
		st.changed = true
	default:
		s.apiError(w, http.StatusBadRequest, "changed must be 1 or 0")
		return
	}
	if err := e.subscribe(st); err != nil {
		w.Header().Set("Retry-After", "5")
		s.apiError(w, http.StatusServiceUnavailable, "no event stream now: "+err.Error())
		return
	}
	defer e.unsubscribe(st)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return st.rc.Flush() == nil
	}
	if !write([]byte("retry: 3000\n: connected\n\n")) {
		return
	}
	beat := time.NewTicker(e.heartbeat)
	defer beat.Stop()
	var buf []byte
	for {
		buf = buf[:0]
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			return
		case <-beat.C:
			buf = append(buf, ": heartbeat\n\n"...)
		case <-st.kick:
		case msg := <-st.ch:
			buf = append(buf, msg...)
		}
		// Whatever else waits goes in the same write; after a drop, the
		// events still waiting are stale too: they make way for a resync.
		for more := true; more && len(buf) < 64<<10; {
			select {
			case msg := <-st.ch:
				buf = append(buf, msg...)
			default:
				more = false
			}
		}
		if n := st.dropped.Swap(0); n > 0 {
			for len(st.ch) > 0 {
				<-st.ch
			}
			buf = append(buf[:0], "event: resync\ndata: {}\n\n"...)
		}
		if len(buf) > 0 && !write(buf) {
			return
		}
	}
}
