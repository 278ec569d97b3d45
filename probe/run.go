package probe

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Prober probes one kind of target. Probe fills r (phases, blocks) and
// returns the failure, if any, as a *PhaseError; Run does the rest
// (deadline, error classification, totals). A prober must return by the
// time ctx is done and leave no goroutine behind.
type Prober interface {
	Probe(ctx context.Context, t Target, o *Options, rec *Recorder, r *Result) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context, t Target, o *Options, rec *Recorder, r *Result) error

// Probe calls f.
func (f ProberFunc) Probe(ctx context.Context, t Target, o *Options, rec *Recorder, r *Result) error {
	return f(ctx, t, o, rec, r)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Prober{}
)

// Register makes a prober available for the given target schemes,
// without a Kind (no phases, no rules of its own): RegisterKind is the
// way prober packages register; Register stays for callers that plug in
// a prober of their own.
func Register(p Prober, kinds ...string) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, k := range kinds {
		registry[k] = p
	}
}

// Kinds lists the target schemes a prober is registered for, sorted
// (KindNames lists the kinds).
func Kinds() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrUnsupportedKind is returned (as a config error) for a scheme with no prober.
var ErrUnsupportedKind = errors.New("probe kind not available")

// Run probes t once under o's budget and returns the Result, without
// findings (see package diagnose). It never panics on a hostile peer: a
// panic inside a prober becomes a protocol error.
func Run(ctx context.Context, t Target, o *Options) (res *Result) {
	if o == nil {
		o = &Options{}
	}
	rec := NewRecorder()
	res = &Result{Schema: Schema, Target: t.Raw, Kind: t.Kind, StartedAt: rec.Start().UTC(), Phases: []Phase{}, Findings: []Finding{}}

	regMu.RLock()
	p, ok := registry[t.Kind]
	regMu.RUnlock()
	if !ok {
		res.Error = &ErrorInfo{Class: ClassConfig, Message: fmt.Sprintf("%v: %s", ErrUnsupportedKind, t.Kind), Cause: CauseKind}
		return res
	}
	if err := o.Validate(t.Kind); err != nil {
		res.Error = &ErrorInfo{Class: ClassConfig, Message: err.Error(), Cause: optionCause(err.(FieldErrors))}
		return res
	}

	res.TimeoutMS = ms(o.timeout())
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()

	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = &PhaseError{Phase: rec.InFlight(), Class: ClassProtocol, Cause: CausePanic, Err: fmt.Errorf("prober panic: %v", v)}
			}
		}()
		err = p.Probe(ctx, t, o, rec, res)
	}()
	end := rec.Now()
	if d := rec.DoneAt(); !d.IsZero() {
		end = d
	}
	Finish(ctx, rec, res, err, end)
	return res
}

// Finish closes the books on a result: phases relative to the start, the
// total, success and the classified error. A timeout names the phase that
// was in flight when the budget ran out.
func Finish(ctx context.Context, rec *Recorder, res *Result, err error, end time.Time) {
	inflight := rec.InFlight()
	res.Phases = rec.Phases(end)
	res.TotalMS = rec.Since(end)
	if err == nil {
		res.Success = true
		res.Error = nil
		return
	}
	phase := inflight
	if phase == "" {
		phase = rec.Last()
	}
	pe := Classify(ctx, phase, ClassProtocol, err)
	if pe.Phase == "" {
		pe.Phase = phase
	}
	if pe.Class == ClassTimeout && inflight != "" {
		// The budget ran out: name what was in flight, not where the
		// error surfaced.
		pe.Phase = inflight
	}
	if pe.Class == ClassTimeout || pe.Class == ClassCanceled {
		// The phase the budget ran out in did not finish, even when the
		// code around it already closed it on the way out.
		for i := len(res.Phases) - 1; i >= 0; i-- {
			if res.Phases[i].Name == pe.Phase {
				res.Phases[i].Incomplete = true
				break
			}
		}
	}
	res.Success = false
	res.Error = &ErrorInfo{Class: pe.Class, Phase: pe.Phase, Message: pe.Err.Error(), Cause: pe.Cause}
}

// Session carries state across repeated runs of the same target when the
// user asks for reuse (--reuse): probers keep their connections in it.
// The zero value is ready; Close releases everything it holds.
type Session struct {
	mu    sync.Mutex
	items map[string]any
}

// Load returns what a prober stored under key.
func (s *Session) Load(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.items[key]
	return v, ok
}

// Store keeps v under key; v may implement Close() to be released by Session.Close.
func (s *Session) Store(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[string]any{}
	}
	s.items[key] = v
}

// Close closes every stored value that has a Close method.
func (s *Session) Close() {
	s.mu.Lock()
	items := s.items
	s.items = nil
	s.mu.Unlock()
	for _, v := range items {
		switch c := v.(type) {
		case interface{ Close() error }:
			_ = c.Close()
		case interface{ Close() }:
			c.Close()
		case interface{ CloseIdleConnections() }:
			c.CloseIdleConnections()
		}
	}
}
