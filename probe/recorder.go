package probe

import (
	"sync"
	"time"
)

// Recorder times the phases of one probe. It stores absolute timestamps
// (with Go's monotonic reading) and turns them into milliseconds relative
// to the start only when asked, so callbacks from other goroutines cost a
// lock and a clock read. The zero value is not usable; use NewRecorder.
type Recorder struct {
	start time.Time
	now   func() time.Time

	mu     sync.Mutex
	phases []span
	done   time.Time // set by MarkDone
	buf    [8]span   // phases' first backing array: one allocation per probe, not two
}

type span struct {
	name       string
	begin, end time.Time // end is zero while in flight
}

// NewRecorder starts a recorder at time.Now.
func NewRecorder() *Recorder { return NewRecorderAt(time.Now(), time.Now) }

// NewRecorderAt starts a recorder at start with an injected clock (tests).
func NewRecorderAt(start time.Time, now func() time.Time) *Recorder {
	r := &Recorder{}
	r.Init(start, now)
	return r
}

// Init starts r at start with the clock now. It lets a Recorder live
// inside a larger struct (the client library's per-request state) and
// save an allocation per request; r must not be copied afterwards.
func (r *Recorder) Init(start time.Time, now func() time.Time) {
	r.start, r.now = start, now
	r.phases = r.buf[:0]
}

// Start is the instant the probe began.
func (r *Recorder) Start() time.Time { return r.start }

// Now reads the recorder's clock.
func (r *Recorder) Now() time.Time { return r.now() }

// Since returns milliseconds from the probe start to t.
func (r *Recorder) Since(t time.Time) float64 { return ms(t.Sub(r.start)) }

// Begin opens phase name at the current time and returns that time. A
// phase that is already open is ended first, so phases never overlap.
func (r *Recorder) Begin(name string) time.Time {
	t := r.now()
	r.BeginAt(name, t)
	return t
}

// BeginAt opens phase name at t (for timestamps taken in callbacks).
func (r *Recorder) BeginAt(name string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.phases {
		if r.phases[i].end.IsZero() {
			r.phases[i].end = t
		}
	}
	r.phases = append(r.phases, span{name: name, begin: t})
}

// End closes the open phase name at the current time. Ending a phase that
// is not open does nothing.
func (r *Recorder) End(name string) time.Time {
	t := r.now()
	r.EndAt(name, t)
	return t
}

// EndAt closes the open phase name at t.
func (r *Recorder) EndAt(name string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.phases) - 1; i >= 0; i-- {
		if r.phases[i].name == name && r.phases[i].end.IsZero() {
			r.phases[i].end = t
			return
		}
	}
}

// InFlight names the phase currently open, or "" when none is.
func (r *Recorder) InFlight() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.phases) - 1; i >= 0; i-- {
		if r.phases[i].end.IsZero() {
			return r.phases[i].name
		}
	}
	return ""
}

// Last names the most recently begun phase, open or not.
func (r *Recorder) Last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.phases) == 0 {
		return ""
	}
	return r.phases[len(r.phases)-1].name
}

// Phases returns the recorded phases relative to the start; a phase still
// open is reported as Incomplete with its duration up to at.
func (r *Recorder) Phases(at time.Time) []Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Phase, 0, len(r.phases))
	for _, s := range r.phases {
		p := Phase{Name: s.name, StartMS: r.Since(s.begin)}
		end := s.end
		if end.IsZero() {
			end = at
			p.Incomplete = true
		}
		p.DurationMS = ms(end.Sub(s.begin))
		out = append(out, p)
	}
	return out
}

// Reset drops every phase (a redirect hop starts over) and returns what
// was recorded before the reset.
func (r *Recorder) Reset(at time.Time) []Phase {
	ph := r.Phases(at)
	r.mu.Lock()
	r.phases = r.buf[:0]
	r.mu.Unlock()
	return ph
}

// ms converts to milliseconds, rounded to the microsecond: finer digits
// are below what the clock and the scheduler can honestly claim.
func ms(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond).Microseconds()) / 1e3
}

// MS converts a duration to milliseconds as used throughout the Result.
func MS(d time.Duration) float64 { return ms(d) }

// AddSpan inserts a completed phase [begin, end) in start order; used for
// phases assembled after the fact, such as the redirect phase.
func (r *Recorder) AddSpan(name string, begin, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := span{name: name, begin: begin, end: end}
	i := len(r.phases)
	for i > 0 && r.phases[i-1].begin.After(begin) {
		i--
	}
	r.phases = append(r.phases, span{})
	copy(r.phases[i+1:], r.phases[i:])
	r.phases[i] = s
}

// MarkDone records the end of the measured exchange. Work a prober does
// after it (the resumption check, draining session tickets) is then kept
// out of the total. Only the first call counts.
func (r *Recorder) MarkDone() {
	t := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done.IsZero() {
		r.done = t
	}
}

// DoneAt is the time passed to MarkDone, or zero.
func (r *Recorder) DoneAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}
