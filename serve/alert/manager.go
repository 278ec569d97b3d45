package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("alert: manager closed")

// Manager turns runs into states (a Tracker per target) and states into
// notifications: alerts posted to every Alertmanager, one signed document
// per state change to every webhook, all held while a maintenance window
// is open for the target. Observe never blocks on the network: each
// Alertmanager and webhook has its own bounded queue and worker, started
// by Run. It is safe for concurrent use.
type Manager struct {
	mu      sync.Mutex
	cfg     Config // validated, defaults applied
	maint   *Maintenance
	targets map[string]*entry
	firing  map[string]*entry // the targets with alerts notified as firing
	held    map[string]bool   // targets observed during maintenance, not yet synced
	ams     []*amSender
	hooks   []*hookSender

	log    *slog.Logger
	client *http.Client
	stats  counters
	now    func() time.Time

	// Retry and timing knobs; tests shorten them.
	amAttempts     int
	amBackoff      time.Duration
	hookAttempts   int
	hookBackoff    time.Duration
	hookMaxElapsed time.Duration
	maintTick      time.Duration

	runCtx  context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // sender goroutines
	running bool
	closed  bool
	done    chan struct{} // closed when Run returns
}

// counters are the Manager's statistics.
type counters struct {
	alertsSent, amErrors, webhooksSent, webhookErrors, dropped atomic.Uint64
}

// Stats counts what a Manager sent, failed to send and dropped since it
// was made.
type Stats struct {
	// AlertsSent counts alerts Alertmanagers accepted (each alert of
	// each request to each Alertmanager, resends included).
	AlertsSent uint64
	// AlertmanagerErrors counts requests that failed after their retries.
	AlertmanagerErrors uint64
	// WebhooksSent and WebhookErrors count documents delivered and
	// given up on.
	WebhooksSent, WebhookErrors uint64
	// Dropped counts alert changes and documents a full queue turned
	// away (and alerts too large for a request).
	Dropped uint64
}

// entry is what the Manager keeps of one target.
type entry struct {
	tracker   *Tracker
	module    string
	rawLabels map[string]string
	labels    map[string]string // sanitized

	last     runInfo // the latest run
	lastFail runInfo // the latest failed run

	changeAt     time.Time // the latest transition
	changeReason string

	notifiedState State             // the state last told to the webhooks
	notified      map[string]*Alert // alerts Alertmanagers were told are firing, by key
	deliveries    []Delivery        // the latest webhook deliveries, oldest first
}

// runInfo is what the Manager keeps of a run for annotations and
// documents.
type runInfo struct {
	at       time.Time
	err      *EventError
	findings []EventFinding // Alerting left false
}

// worst is the run's most serious finding (the first among equals).
func (ri *runInfo) worst() *EventFinding {
	var w *EventFinding
	for i := range ri.findings {
		f := &ri.findings[i]
		if w == nil || probe.Severity(f.Severity).Rank() > probe.Severity(w.Severity).Rank() {
			w = f
		}
	}
	return w
}

// newRunInfo keeps what annotations and documents need of r.
func newRunInfo(r *probe.Result) runInfo {
	ri := runInfo{at: r.StartedAt}
	if e := r.Error; e != nil && !r.Success {
		ri.err = &EventError{Class: string(e.Class), Phase: e.Phase, Message: cut(e.Message, MaxAnnotation)}
	}
	if len(r.Findings) > 0 {
		ri.findings = make([]EventFinding, len(r.Findings))
		for i, f := range r.Findings {
			ri.findings[i] = EventFinding{ID: f.ID, Severity: string(f.Severity), Summary: cut(f.Summary, MaxAnnotation), Advice: cut(f.Advice, MaxAnnotation)}
		}
	}
	return ri
}

// New checks cfg (Config.Validate) and returns a Manager for it. log
// receives delivery failures (nil: none are logged). Nothing is sent
// until Run.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	m := &Manager{
		targets: map[string]*entry{}, firing: map[string]*entry{}, held: map[string]bool{},
		log: log, now: time.Now,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an error: never carry a token elsewhere
		}},
		amAttempts: 3, amBackoff: 500 * time.Millisecond,
		hookAttempts: 5, hookBackoff: time.Second, hookMaxElapsed: 2 * time.Minute,
		maintTick: time.Second,
		done:      make(chan struct{}),
	}
	m.apply(cfg)
	return m, nil
}

// apply installs a validated cfg: defaults, maintenance, rules and
// senders (reusing those whose config is unchanged). Callers hold m.mu
// or own m alone.
func (m *Manager) apply(cfg Config) {
	cfg = cfg.withDefaults()
	m.cfg = cfg
	m.maint, _ = NewMaintenance(cfg.Maintenance, cfg.Location) // validated
	for name, e := range m.targets {
		e.tracker.SetRules(m.rulesFor(name))
	}
	oldAM := m.ams
	m.ams = nil
	for _, c := range cfg.Alertmanagers {
		i := slices.IndexFunc(oldAM, func(s *amSender) bool { return s != nil && s.cfg == c })
		if i >= 0 {
			m.ams = append(m.ams, oldAM[i])
			oldAM[i] = nil
			continue
		}
		s := newAMSender(m, c)
		m.ams = append(m.ams, s)
		m.start(&s.cancel, s.run)
		if len(m.firing) > 0 {
			s.askResend() // a new Alertmanager learns the firing alerts now, not at the next resend
		}
	}
	for _, s := range oldAM {
		if s != nil && s.cancel != nil {
			s.cancel()
		}
	}
	oldHooks := m.hooks
	m.hooks = nil
	for _, c := range cfg.Webhooks {
		i := slices.IndexFunc(oldHooks, func(s *hookSender) bool { return s != nil && s.cfg == c })
		if i >= 0 {
			m.hooks = append(m.hooks, oldHooks[i])
			oldHooks[i] = nil
			continue
		}
		s := newHookSender(m, c)
		m.hooks = append(m.hooks, s)
		m.start(&s.cancel, s.run)
	}
	for _, s := range oldHooks {
		if s != nil && s.cancel != nil {
			s.cancel()
		}
	}
}

// start runs a sender's loop while Run runs (now, if it does).
func (m *Manager) start(cancel *context.CancelFunc, run func(context.Context)) {
	if !m.running {
		return
	}
	ctx, c := context.WithCancel(m.runCtx)
	*cancel = c
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		run(ctx)
	}()
}

// Reload replaces the config (after Validate): rules, maintenance,
// external URL, intervals, Alertmanagers and webhooks. Targets keep
// their memory; an Alertmanager or webhook whose config is unchanged
// keeps its queue, the others start empty.
func (m *Manager) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apply(cfg)
	now := m.now()
	for name := range m.held {
		if _, in := m.maint.Active(name, now); !in {
			m.sync(name, m.targets[name], now)
		}
	}
	return nil
}

// rulesFor returns target's rules. Callers hold m.mu.
func (m *Manager) rulesFor(target string) Rules {
	if r, ok := m.cfg.TargetRules[target]; ok {
		return r
	}
	return m.cfg.Rules
}

// resendInterval and requestTimeout read the config.
func (m *Manager) resendInterval() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.ResendInterval
}

func (m *Manager) requestTimeout() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.RequestTimeout
}

// Observe takes one run of target (call it after every scheduled run,
// with the target's module and labels as configured). It updates the
// target's state and queues what has to be sent; it never waits on the
// network. A nil Result is ignored.
func (m *Manager) Observe(target, module string, labels map[string]string, r *probe.Result) {
	if r == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	e := m.targets[target]
	if e == nil {
		e = &entry{tracker: NewTracker(m.rulesFor(target)), notifiedState: StatePending}
		m.targets[target] = e
	}
	e.module = module
	if !maps.Equal(labels, e.rawLabels) {
		e.rawLabels, e.labels = maps.Clone(labels), SanitizeLabels(labels)
	}
	if r.StartedAt.Before(e.last.at) {
		return // older than the latest run: the Tracker ignores it too
	}
	u := e.tracker.Observe(r)
	e.last = newRunInfo(r)
	if !r.Success {
		e.lastFail = e.last
	}
	if t := u.Transition; t != nil {
		e.changeAt, e.changeReason = t.At, t.Reason
	}
	now := m.now()
	if _, in := m.maint.Active(target, now); in {
		m.held[target] = true
		return
	}
	m.sync(target, e, now)
}

// sync brings what was notified about target up to its state: alerts
// fired or resolved, and a document when the state differs from the one
// last sent. Callers hold m.mu.
func (m *Manager) sync(target string, e *entry, now time.Time) {
	held := m.held[target]
	delete(m.held, target)
	if e == nil {
		return
	}
	st := e.tracker.Status()
	m.reconcile(target, e, st, now)
	if st.State == e.notifiedState {
		return
	}
	from := e.notifiedState
	e.notifiedState = st.State
	if from == StatePending && st.State == StateUp {
		return // the first verdict, and a good one: nothing to tell
	}
	if len(m.hooks) == 0 {
		return
	}
	ev := Event{
		Version: EventVersion, ID: newID(), Target: target, Module: e.module, Labels: e.labels,
		From: from, To: st.State, At: e.changeAt.UTC(), Reason: e.changeReason,
		Error: e.last.err, Findings: slices.Clone(e.last.findings), Link: targetLink(m.cfg.ExternalURL, target),
	}
	if held {
		ev.Held, ev.At = true, now.UTC()
		ev.Reason = "held by a maintenance window; latest change: " + e.changeReason
	}
	if ev.Findings == nil {
		ev.Findings = []EventFinding{}
	}
	for i := range ev.Findings {
		ev.Findings[i].Alerting = slices.ContainsFunc(st.Findings, func(f FindingStatus) bool { return f.ID == ev.Findings[i].ID })
	}
	body, err := json.Marshal(ev)
	if err != nil {
		m.log.Error("webhook document", "target", target, "error", err)
		return
	}
	it := hookItem{target: target, id: ev.ID, change: string(from) + " → " + string(st.State), body: body}
	for _, h := range m.hooks {
		h.enqueue(it)
	}
}

// reconcile fires the alerts target should have and Alertmanagers were
// not told of, and resolves those they were told of and it should not
// have. Callers hold m.mu.
func (m *Manager) reconcile(target string, e *entry, st Status, now time.Time) {
	if !st.Down && len(st.Findings) == 0 && len(e.notified) == 0 {
		return
	}
	want := m.desired(target, e, st)
	for k, old := range e.notified {
		if nw, ok := want[k]; !ok || !nw.sameLabels(old) {
			m.post(amItem{alert: old, resolvedAt: now})
		}
	}
	for k, nw := range want {
		if old, ok := e.notified[k]; !ok || !old.sameLabels(nw) {
			m.post(amItem{alert: nw})
		}
	}
	e.notified = want
	if len(want) == 0 {
		delete(m.firing, target)
	} else {
		m.firing[target] = e
	}
}

// post queues it for every Alertmanager. Callers hold m.mu.
func (m *Manager) post(it amItem) {
	for _, s := range m.ams {
		s.enqueue(it)
	}
}

// desired builds the alerts target should have now. An alert whose
// labels match one already notified keeps its start. Callers hold m.mu.
func (m *Manager) desired(target string, e *entry, st Status) map[string]*Alert {
	want := map[string]*Alert{}
	link := targetLink(m.cfg.ExternalURL, target)
	base := func(name string, extra int) map[string]string {
		l := make(map[string]string, len(e.labels)+4+extra)
		maps.Copy(l, e.labels)
		l[LabelAlertname], l[LabelTarget] = name, sanitizeValue(target)
		if e.module != "" { // an empty label is no label to Alertmanager
			l[LabelModule] = sanitizeValue(e.module)
		}
		return l
	}
	keep := func(key string, a *Alert) {
		if old := e.notified[key]; old != nil && old.sameLabels(a) {
			a.StartsAt = old.StartsAt
		}
		want[key] = a
	}
	if st.Down {
		l := base(AlertTargetDown, 1)
		l[LabelSeverity] = string(probe.SeverityCritical)
		keep("down", &Alert{Labels: l, Annotations: m.downAnnotations(target, e, st), StartsAt: st.Since, GeneratorURL: link})
	}
	for _, f := range st.Findings {
		l := base(AlertFinding, 2)
		l[LabelFinding], l[LabelSeverity] = sanitizeValue(f.ID), string(f.Severity)
		keep("finding:"+f.ID, &Alert{Labels: l, StartsAt: f.Since, GeneratorURL: link, Annotations: map[string]string{
			"summary": cut(f.Summary, MaxAnnotation),
			"advice":  cut(f.Advice, MaxAnnotation),
			"description": cut(fmt.Sprintf("%s (%s) has shown on every run of %s (module %s) since %s.",
				f.ID, f.Severity, target, e.module, f.Since.UTC().Format(time.RFC3339)), MaxAnnotation),
		}})
	}
	return want
}

// downAnnotations are the annotations of target's down alert.
func (m *Manager) downAnnotations(target string, e *entry, st Status) map[string]string {
	fail := &e.lastFail
	what := describeError(nil)
	if fail.err != nil {
		what = describeError(&probe.ErrorInfo{Class: probe.ErrorClass(fail.err.Class), Message: fail.err.Message})
	}
	summary := fmt.Sprintf("%s is down: %s", target, what)
	var desc strings.Builder
	if st.State == StateFlapping {
		summary = fmt.Sprintf("%s is flapping (%d state changes within %s), down among them", target, st.Changes, m.rulesFor(target).WithDefaults().FlapWindow)
		fmt.Fprintf(&desc, "%s (module %s) keeps changing state; the alert stays firing until it settles. ", target, e.module)
	} else {
		fmt.Fprintf(&desc, "%d consecutive runs of %s (module %s) have failed; down since %s. ", st.ConsecutiveFailures, target, e.module, st.Since.UTC().Format(time.RFC3339))
	}
	if fail.err != nil {
		fmt.Fprintf(&desc, "The latest failed run (%s) failed", fail.at.UTC().Format(time.RFC3339))
		if fail.err.Phase != "" {
			fmt.Fprintf(&desc, " in phase %s", fail.err.Phase)
		}
		fmt.Fprintf(&desc, ": %s.", what)
	}
	advice := "The target's page shows the failing phase, the findings and their advice."
	if w := fail.worst(); w != nil {
		fmt.Fprintf(&desc, " %s: %s", w.ID, w.Summary)
		if w.Advice != "" {
			advice = w.Advice
		}
	}
	return map[string]string{
		"summary":     cut(summary, MaxAnnotation),
		"description": cut(desc.String(), MaxAnnotation),
		"advice":      cut(advice, MaxAnnotation),
	}
}

// Forget drops target (it left the config): its alerts are resolved and
// its memory and deliveries dropped.
func (m *Manager) Forget(target string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.targets[target]
	if e == nil {
		return
	}
	now := m.now()
	for _, a := range e.notified {
		m.post(amItem{alert: a, resolvedAt: now})
	}
	delete(m.targets, target)
	delete(m.firing, target)
	delete(m.held, target)
}

// Status returns target's state (false when it has not been observed).
func (m *Manager) Status(target string) (Status, bool) {
	m.mu.Lock()
	e := m.targets[target]
	m.mu.Unlock()
	if e == nil {
		return Status{State: StatePending}, false
	}
	return e.tracker.Status(), true
}

// State returns target's state (pending when it has not been observed):
// cheaper than Status for lists of many targets.
func (m *Manager) State(target string) State {
	m.mu.Lock()
	e := m.targets[target]
	m.mu.Unlock()
	if e == nil {
		return StatePending
	}
	return e.tracker.State()
}

// InMaintenance reports whether target is in a maintenance window now,
// and until when: for the UI.
func (m *Manager) InMaintenance(target string) (until time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maint.Active(target, m.now())
}

// Deliveries returns target's latest webhook deliveries (at most
// DeliveriesPerTarget), newest first: for the UI.
func (m *Manager) Deliveries(target string) []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.targets[target]
	if e == nil {
		return nil
	}
	out := slices.Clone(e.deliveries)
	slices.Reverse(out)
	return out
}

// recordDelivery keeps d among target's latest deliveries.
func (m *Manager) recordDelivery(target string, d Delivery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.targets[target]
	if e == nil {
		return
	}
	if len(e.deliveries) >= DeliveriesPerTarget {
		e.deliveries = slices.Delete(e.deliveries, 0, len(e.deliveries)-DeliveriesPerTarget+1)
	}
	e.deliveries = append(e.deliveries, d)
}

// Alerts returns the alerts Alertmanagers have been told are firing,
// ordered by target then alert name and finding.
func (m *Manager) Alerts() []*Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firingAlerts()
}

// Firing counts the alerts Alertmanagers have been told are firing
// (len(Alerts()) without building and sorting the list).
func (m *Manager) Firing() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.firing {
		n += len(e.notified)
	}
	return n
}

// firingAlerts lists the notified alerts. Callers hold m.mu.
func (m *Manager) firingAlerts() []*Alert {
	var out []*Alert
	for _, e := range m.firing {
		for _, a := range e.notified {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *Alert) int {
		return strings.Compare(a.Labels[LabelTarget]+"\x00"+a.Name()+"\x00"+a.Labels[LabelFinding],
			b.Labels[LabelTarget]+"\x00"+b.Name()+"\x00"+b.Labels[LabelFinding])
	})
	return out
}

// resendSnapshot lists every firing alert, for a resend.
func (m *Manager) resendSnapshot() []amItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	alerts := m.firingAlerts()
	snap := make([]amItem, len(alerts))
	for i, a := range alerts {
		snap[i] = amItem{alert: a}
	}
	return snap
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		AlertsSent: m.stats.alertsSent.Load(), AlertmanagerErrors: m.stats.amErrors.Load(),
		WebhooksSent: m.stats.webhooksSent.Load(), WebhookErrors: m.stats.webhookErrors.Load(),
		Dropped: m.stats.dropped.Load(),
	}
}

// Run starts the delivery workers and runs the resend loop (every
// firing alert posted again each ResendInterval) and the maintenance
// check (held notifications sent within a second of a window's end),
// until ctx ends or Close is called. Every goroutine it started has
// ended when it returns. It may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return ErrClosed
	case m.running || m.runCtx != nil:
		m.mu.Unlock()
		return errors.New("alert: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	m.runCtx, m.stop, m.running = ctx, cancel, true
	for _, s := range m.ams {
		m.start(&s.cancel, s.run)
	}
	for _, s := range m.hooks {
		m.start(&s.cancel, s.run)
	}
	every := m.cfg.ResendInterval
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
		cancel()
		m.wg.Wait()
		m.client.CloseIdleConnections()
		close(m.done)
	}()

	resend := time.NewTicker(every)
	defer resend.Stop()
	maint := time.NewTicker(m.maintTick)
	defer maint.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resend.C:
			m.mu.Lock()
			if len(m.firing) > 0 {
				for _, s := range m.ams {
					s.askResend()
				}
			}
			if d := m.cfg.ResendInterval; d != every {
				every = d
				resend.Reset(d)
			}
			m.mu.Unlock()
		case <-maint.C:
			m.mu.Lock()
			if len(m.held) > 0 {
				now := m.now()
				for name := range m.held {
					if _, in := m.maint.Active(name, now); !in {
						m.sync(name, m.targets[name], now)
					}
				}
			}
			m.mu.Unlock()
		}
	}
}

// Close stops Run and waits for every goroutine it started. Queued
// notifications not yet sent are dropped (Alertmanager resolves the
// alerts of a pathlens that stopped within 4 resend intervals). Observe
// does nothing after Close.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		started := m.runCtx != nil
		m.mu.Unlock()
		if started {
			<-m.done
		}
		return nil
	}
	m.closed = true
	started, stop := m.runCtx != nil, m.stop
	m.mu.Unlock()
	if started {
		stop()
		<-m.done
	}
	return nil
}
