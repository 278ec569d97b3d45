package metrics

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// targetSeries holds every per-target series of one target as plain
// fields: 200 bytes, about 330 with its certificates, findings and map
// entry. The per-target families are written from it straight into the
// exposition (expose.go). It is replaced, not changed, when the target's
// module changes.
type targetSeries struct {
	mu   sync.Mutex // guards everything below
	name string
	mod  *moduleState // fixed for the life of the struct
	// labels are the target's own labels as sorted (name, value) pairs,
	// on every per-target series (SetTargetLabels); shared, never changed
	// in place.
	labels []string
	gone   bool // forgotten: scrapes and late Observes skip it

	success bool
	resumed int8 // pathlens_tls_handshake_resumed: -1 absent, else 0 or 1; opt-in
	grpc    bool // pathlens_grpc_messages_total exists
	ws      bool // the ws histograms (ws.go) hold series of this target
	h2Seen  [2]bool
	runs    [2]uint64  // result failure, success
	h2      [2]float64 // direction recv, send
	lastRun float64    // opt-in; 0: absent
	lastDur float64
	grpcN   float64

	errs     []classCount // by class, created at the first failure of each
	findings []findingKey // sorted
	certs    []certValue  // sorted by subject
	phases   []phaseValue // ModuleMetrics.PerTargetPhases, sorted by name
	hist     *targetHists // ModuleMetrics.PerTargetHistograms
}

type classCount struct {
	class string
	n     uint64
}

type findingKey struct{ id, severity string }

type certValue struct {
	subject  string
	notAfter float64
}

type phaseValue struct {
	name    string
	seconds float64
}

// h2Dirs are the direction label values of h2 and h2Seen, in order.
var h2Dirs = [2]string{probe.H2Recv, probe.H2Send}

func newTargetSeries(name string, mod *moduleState) *targetSeries {
	return &targetSeries{name: name, mod: mod, resumed: -1}
}

// observe updates the series from one run. The caller holds ts.mu.
func (ts *targetSeries) observe(r *probe.Result, o ModuleMetrics) {
	started := r.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	ts.lastRun = float64(started.UnixMilli()) / 1e3
	ts.success = r.Success
	ts.lastDur = micros(r.TotalMS)
	if r.Success {
		ts.runs[1]++
	} else {
		ts.runs[0]++
		ts.addError(errorClass(r))
	}
	ts.observeDurations(r, o)
	ts.observeFindings(r)
	ts.observeCerts(r)
	ts.observeResumption(r)
	ts.observeH2(r)
	if r.GRPC != nil {
		// From the first gRPC run on, so that rate() sees later messages.
		ts.grpc = true
		ts.grpcN += float64(max(r.GRPC.Messages, 0))
	}
	ts.dropOptedOut(o)
}

// dropOptedOut drops the opt-in series that o does not ask for. The
// caller holds ts.mu.
func (ts *targetSeries) dropOptedOut(o ModuleMetrics) {
	if !o.PerTargetHistograms {
		ts.hist = nil
	}
	if !o.PerTargetPhases {
		ts.phases = nil
	}
	if !o.LastRunTimestamp {
		ts.lastRun = 0
	}
	if !o.TLSResumed {
		ts.resumed = -1
	}
}

// micros turns milliseconds into seconds rounded to the microsecond: a
// gauge needs no more, and the short value keeps the exposition small.
func micros(ms float64) float64 { return math.Round(ms*1000) / 1e6 }

// addError counts a failure of class. The series of a class appears with
// the target's first failure of that class: pre-creating one series per
// class for every target cost 8 series per target for the rare failure.
// pathlens_module_probe_errors_total (module.go) has every class from 0.
func (ts *targetSeries) addError(class string) {
	i, ok := slices.BinarySearchFunc(ts.errs, class, func(c classCount, s string) int { return cmp.Compare(c.class, s) })
	if !ok {
		ts.errs = slices.Insert(ts.errs, i, classCount{class: class})
	}
	ts.errs[i].n++
}

// observeDurations feeds the opt-in per-target histograms and last phase
// gauges.
func (ts *targetSeries) observeDurations(r *probe.Result, o ModuleMetrics) {
	if o.PerTargetHistograms {
		if ts.hist == nil {
			ts.hist = &targetHists{}
		}
		ts.hist.total.observe(micros(r.TotalMS))
	}
	ts.phases = ts.phases[:0]
	for _, p := range r.Phases {
		// A phase cut short by a timeout or error measures the budget or
		// the failure, not the phase: it would drag the quantiles of the
		// healthy phase. Failures are counted in errors_total instead.
		if p.Incomplete || p.Name == "" {
			continue
		}
		if ts.hist != nil {
			ts.hist.phase(p.Name).observe(micros(p.DurationMS))
		}
		if o.PerTargetPhases {
			ts.phases = append(ts.phases, phaseValue{phaseName(p.Name), micros(p.DurationMS)})
		}
	}
	if len(ts.phases) == 0 {
		ts.phases = nil
		return
	}
	slices.SortStableFunc(ts.phases, func(a, b phaseValue) int { return cmp.Compare(a.name, b.name) })
	// A phase listed twice in one Result keeps its first duration.
	ts.phases = slices.CompactFunc(ts.phases, func(a, b phaseValue) bool { return a.name == b.name })
}

// observeFindings makes the finding series those of the latest run:
// pathlens_finding_active is 1 for each, and the series of a finding the
// run no longer shows is deleted.
//
// Why delete instead of setting 0: the natural alert is
// `pathlens_finding_active{severity="critical"} == 1`, and a table of active
// findings is just the series that exist. Zero-valued leftovers would pile
// up forever (one per finding a target ever had, per severity it had), make
// `count(pathlens_finding_active)` and dashboard tables lie, and force every
// query to add `== 1`. An absent series resolves the alert just the same,
// and `absent()`/`unless` still work for "gone" checks.
func (ts *targetSeries) observeFindings(r *probe.Result) {
	var buf [8]findingKey
	now := buf[:0]
	for _, f := range r.Findings {
		if f.ID != "" {
			now = append(now, findingKey{f.ID, string(f.Severity)})
		}
	}
	slices.SortFunc(now, func(a, b findingKey) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.severity, b.severity)) })
	now = slices.Compact(now)
	if !slices.Equal(now, ts.findings) {
		ts.findings = slices.Clip(slices.Clone(now))
	}
	if len(ts.findings) == 0 {
		ts.findings = nil
	}
}

// observeCerts exports NotAfter per certificate of the chain as sent.
// A Result that carries a chain replaces the target's subjects (stale ones
// are deleted). A failed Result without a chain (refused, DNS failure, …)
// says nothing about the certificate, so the last known values stay —
// dropping them would flap every expiry alert with each outage. A
// successful Result without a chain (the target no longer speaks TLS)
// deletes them.
func (ts *targetSeries) observeCerts(r *probe.Result) {
	var chain []probe.Cert
	if r.TLS != nil {
		chain = r.TLS.Chain
	}
	if len(chain) == 0 && !r.Success {
		return
	}
	var buf [8]certValue
	now := buf[:0]
	for _, c := range chain {
		if !c.NotAfter.IsZero() {
			now = append(now, certValue{c.Subject, float64(c.NotAfter.Unix())})
		}
	}
	// Two certificates with one subject (a cross-signed intermediate sent
	// twice) share a series: the earlier expiry is the one to watch.
	slices.SortFunc(now, func(a, b certValue) int {
		return cmp.Or(cmp.Compare(a.subject, b.subject), cmp.Compare(a.notAfter, b.notAfter))
	})
	now = slices.CompactFunc(now, func(a, b certValue) bool { return a.subject == b.subject })
	switch {
	case len(now) == 0:
		ts.certs = nil
	case slices.EqualFunc(now, ts.certs, func(a, b certValue) bool { return a.subject == b.subject }):
		for i := range now {
			ts.certs[i].notAfter = now[i].notAfter // same subjects: no allocation
		}
	default:
		ts.certs = slices.Clip(slices.Clone(now))
	}
}

// observeResumption sets pathlens_tls_handshake_resumed when the run
// tested resumption. Like the certificates, a failed run that did not test
// it (no budget left, never got to TLS) keeps the last known value, and a
// successful run that did not test it (no TLS, check not run) deletes it.
func (ts *targetSeries) observeResumption(r *probe.Result) {
	switch {
	case r.TLS != nil && r.TLS.Resumption != nil && r.TLS.Resumption.Tested:
		ts.resumed = int8(boolFloat(r.TLS.Resumption.Resumed))
	case r.Success:
		ts.resumed = -1
	}
}

// observeH2 adds a run's HTTP/2 flow-control stall time per direction. A
// direction's series appears with the target's first stall in it: most
// HTTP/2 targets never stall, and two zero series each cost as much as
// the target's pathlens_probe_success.
func (ts *targetSeries) observeH2(r *probe.Result) {
	if r.H2 == nil {
		return
	}
	for _, st := range r.H2.Stalls {
		for i, d := range h2Dirs {
			if st.Dir == d && st.DurationMS > 0 {
				ts.h2[i] += st.DurationMS / 1000
				ts.h2Seen[i] = true
			}
		}
	}
}
