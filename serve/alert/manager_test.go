package alert

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

func TestMaintenanceHoldsAndSendsAfter(t *testing.T) {
	clk := newClock(t0.Add(time.Minute))
	hooks := newHookServer(t, []byte("k"), clk.Now)
	am := newFakeAM(t)
	cfg := Config{
		Alertmanagers: []AlertmanagerConfig{{URL: am.URL}},
		Webhooks:      []WebhookConfig{{URL: hooks.URL, SecretFile: writeFile(t, "k", "k")}},
		Maintenance:   []Window{{Targets: []string{"shop-*"}, Start: t0, End: t0.Add(10 * time.Minute)}},
	}
	m, _ := newTestManager(t, cfg)
	m.now = clk.Now
	run(t, m)

	if u, ok := m.InMaintenance("shop-api"); !ok || !u.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("InMaintenance = %s, %v", u, ok)
	}
	if _, ok := m.InMaintenance("web"); ok {
		t.Fatal("web in maintenance")
	}
	// shop-api goes down in the window; shop-db goes down and comes back
	// inside it; web, outside any window, goes down.
	goDown(m, "shop-api", nil, t0.Add(time.Minute))
	goDown(m, "shop-db", nil, t0.Add(time.Minute))
	m.Observe("shop-db", "https", nil, okRun(t0.Add(3*time.Minute)))
	goDown(m, "web", nil, t0.Add(time.Minute))
	if st, _ := m.Status("shop-api"); st.State != StateDown {
		t.Fatalf("shop-api is %s: the window stops notifications, not tracking", st.State)
	}
	waitFor(t, 5*time.Second, "web's document", func() bool { evs, _ := hooks.got(); return len(evs) == 1 })
	time.Sleep(50 * time.Millisecond) // 10 maintenance ticks
	evs, _ := hooks.got()
	if len(evs) != 1 || evs[0].Target != "web" {
		t.Fatalf("during the window: %+v, want web's only", evs)
	}
	for _, a := range am.alerts() {
		if strings.HasPrefix(a.Labels[LabelTarget], "shop-") {
			t.Fatalf("alert posted during the window: %+v", a)
		}
	}
	if as := m.Alerts(); len(as) != 1 || as[0].Labels[LabelTarget] != "web" {
		t.Fatalf("Alerts %+v", as)
	}

	// The window ends: shop-api's change goes out, held; shop-db's,
	// which came and went, does not.
	clk.Set(t0.Add(10 * time.Minute))
	waitFor(t, 5*time.Second, "the held document", func() bool { evs, _ := hooks.got(); return len(evs) == 2 })
	waitFor(t, 5*time.Second, "the held alert", func() bool { _, ok := am.latest(AlertTargetDown, "shop-api"); return ok })
	time.Sleep(50 * time.Millisecond)
	evs, _ = hooks.got()
	if len(evs) != 2 {
		t.Fatalf("after the window: %d documents, want 2: %+v", len(evs), evs)
	}
	ev := evs[1]
	if ev.Target != "shop-api" || !ev.Held || ev.From != StatePending || ev.To != StateDown ||
		!ev.At.Equal(t0.Add(10*time.Minute)) || !strings.Contains(ev.Reason, "maintenance window") {
		t.Errorf("held event %+v", ev)
	}
	if _, ok := am.latest(AlertTargetDown, "shop-db"); ok {
		t.Errorf("shop-db, up again before the window ended, was alerted")
	}
	a, _ := am.latest(AlertTargetDown, "shop-api")
	if !endsAt(t, a).After(clk.Now()) {
		t.Errorf("held alert %+v is not firing", a)
	}
	if _, ok := m.InMaintenance("shop-api"); ok {
		t.Error("still in maintenance")
	}
	if got := len(m.Alerts()); got != 2 || m.Firing() != got {
		t.Errorf("%d alerts firing (Firing says %d), want web's and shop-api's", got, m.Firing())
	}
}

func TestForgetResolves(t *testing.T) {
	clk := newClock(t0.Add(2 * time.Minute))
	am := newFakeAM(t)
	m, _ := newTestManager(t, Config{Alertmanagers: []AlertmanagerConfig{{URL: am.URL}}})
	m.now = clk.Now
	run(t, m)
	w := finding("tls-cert-expiring", probe.SeverityWarning)
	goDown(m, "api", map[string]string{"team": "shop"}, t0, w)
	waitFor(t, 5*time.Second, "two alerts", func() bool { return len(am.alerts()) == 2 })
	if as := m.Alerts(); len(as) != 2 || as[0].Name() != AlertFinding || as[1].Name() != AlertTargetDown {
		t.Fatalf("Alerts %+v", as)
	}
	for _, a := range am.alerts() {
		if !endsAt(t, a).After(clk.Now()) {
			t.Fatalf("posted %+v not firing", a)
		}
	}

	clk.Set(t0.Add(3 * time.Minute))
	m.Forget("api")
	waitFor(t, 5*time.Second, "two resolutions", func() bool { return len(am.alerts()) == 4 })
	for _, name := range []string{AlertTargetDown, AlertFinding} {
		a, _ := am.latest(name, "api")
		if e := endsAt(t, a); !e.Equal(t0.Add(3 * time.Minute)) {
			t.Errorf("%s ends at %s, want now (%s)", name, e, t0.Add(3*time.Minute))
		}
		if a.Labels["team"] != "shop" {
			t.Errorf("resolved %s lost its labels: %v", name, a.Labels)
		}
	}
	if as := m.Alerts(); len(as) != 0 {
		t.Errorf("Alerts after Forget %+v", as)
	}
	if _, ok := m.Status("api"); ok {
		t.Error("Status still knows api")
	}
	m.Forget("api") // again: nothing
	m.Forget("never-seen")
	time.Sleep(20 * time.Millisecond)
	if n := len(am.alerts()); n != 4 {
		t.Errorf("%d posts after forgetting twice", n)
	}
}

func TestRecoveryResolvesAndResend(t *testing.T) {
	clk := newClock(t0.Add(2 * time.Minute))
	am := newFakeAM(t)
	m, _ := newTestManager(t, Config{Alertmanagers: []AlertmanagerConfig{{URL: am.URL}}})
	m.now = clk.Now
	m.cfg.ResendInterval = 20 * time.Millisecond
	run(t, m)
	goDown(m, "api", nil, t0)
	waitFor(t, 5*time.Second, "resends", func() bool { return len(am.alerts()) >= 3 })
	for _, a := range am.alerts() {
		if a.Labels[LabelAlertname] != AlertTargetDown {
			t.Fatalf("posted %+v", a)
		}
		if e := endsAt(t, a); !e.Equal(clk.Now().Add(80 * time.Millisecond)) {
			t.Errorf("firing alert ends at %s, want 4 resend intervals ahead", e)
		}
		if a.StartsAt != t0.Add(time.Minute).Format(time.RFC3339Nano) {
			t.Errorf("startsAt %s, want the run that made it down", a.StartsAt)
		}
	}
	m.Observe("api", "https", nil, okRun(t0.Add(2*time.Minute)))
	waitFor(t, 5*time.Second, "the resolution", func() bool {
		a, _ := am.latest(AlertTargetDown, "api")
		return endsAt(t, a).Equal(clk.Now())
	})
	n := len(am.alerts())
	time.Sleep(100 * time.Millisecond) // 5 resend intervals
	if got := len(am.alerts()); got != n {
		t.Errorf("%d more posts after the resolution: nothing fires", got-n)
	}
	if s := m.Stats(); s.AlertsSent != uint64(n) || s.AlertmanagerErrors != 0 {
		t.Errorf("stats %+v, %d posted", s, n)
	}
}

// A resend asked for before a resolution must not re-fire the resolved
// alert when the sender gets to it after the resolution.
func TestResendDoesNotRefireResolved(t *testing.T) {
	for i := range 20 {
		am := newFakeAM(t)
		m, _ := newTestManager(t, Config{Alertmanagers: []AlertmanagerConfig{{URL: am.URL}}})
		goDown(m, "api", nil, time.Now().Add(-2*time.Minute)) // queued: not running yet
		m.mu.Lock()
		for _, s := range m.ams {
			s.askResend() // what Run does on a resend tick
		}
		m.mu.Unlock()
		m.Forget("api") // queued after the fire
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		waitFor(t, 5*time.Second, "the resolution", func() bool {
			for _, a := range am.alerts() {
				if endsAt(t, a).Before(time.Now()) {
					return true
				}
			}
			return false
		})
		time.Sleep(10 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if a, _ := am.latest(AlertTargetDown, "api"); endsAt(t, a).After(time.Now()) {
			t.Fatalf("round %d: the alert was re-fired after its resolution: %+v", i, am.alerts())
		}
	}
}

func TestReloadKeepsMemory(t *testing.T) {
	am1, am2 := newFakeAM(t), newFakeAM(t)
	cfg := Config{Alertmanagers: []AlertmanagerConfig{{URL: am1.URL}}}
	m, _ := newTestManager(t, cfg)
	run(t, m)
	start := time.Now()
	m.Observe("api", "https", nil, failRun(start))
	m.Observe("db", "https", nil, failRun(start))
	m.Observe("db", "https", nil, failRun(start.Add(time.Second)))
	waitFor(t, 5*time.Second, "db's alert", func() bool { _, ok := am1.latest(AlertTargetDown, "db"); return ok })

	bad := cfg
	bad.MinLocations = 2
	if err := m.Reload(bad); err == nil {
		t.Fatal("Reload took an invalid config")
	}
	// A second Alertmanager and stricter rules for api.
	cfg.Alertmanagers = append(cfg.Alertmanagers, AlertmanagerConfig{URL: am2.URL})
	cfg.TargetRules = map[string]Rules{"api": {FailuresBeforeDown: 3}}
	if err := m.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// The new Alertmanager learns of db's firing alert without waiting
	// for the resend interval (a minute).
	waitFor(t, 5*time.Second, "db's alert on the new Alertmanager", func() bool {
		_, ok := am2.latest(AlertTargetDown, "db")
		return ok
	})
	if st, _ := m.Status("api"); st.ConsecutiveFailures != 1 {
		t.Fatalf("api forgot its failure: %+v", st)
	}
	m.Observe("api", "https", nil, failRun(start.Add(time.Second)))
	if st, _ := m.Status("api"); st.State != StatePending {
		t.Fatalf("api is %s after 2 failures with failures_before_down 3", st.State)
	}
	m.Observe("api", "https", nil, failRun(start.Add(2*time.Second)))
	if st, _ := m.Status("api"); st.State != StateDown {
		t.Fatalf("api is %s after 3 failures", st.State)
	}
	waitFor(t, 5*time.Second, "api's alert on both", func() bool {
		_, ok1 := am1.latest(AlertTargetDown, "api")
		_, ok2 := am2.latest(AlertTargetDown, "api")
		return ok1 && ok2
	})
	if n := len(am1.alerts()); n != 2 {
		t.Errorf("the kept Alertmanager got %d alerts, want db's and api's once each", n)
	}
	if st, _ := m.Status("db"); st.State != StateDown {
		t.Errorf("db is %s after the reload", st.State)
	}
}

func TestReloadEndsMaintenance(t *testing.T) {
	clk := newClock(t0.Add(time.Minute))
	am := newFakeAM(t)
	cfg := Config{
		Alertmanagers: []AlertmanagerConfig{{URL: am.URL}},
		Maintenance:   []Window{{Targets: []string{"*"}, Start: t0, End: t0.Add(time.Hour)}},
	}
	m, _ := newTestManager(t, cfg)
	m.now = clk.Now
	m.maintTick = time.Hour // only the reload can send it
	run(t, m)
	goDown(m, "api", nil, t0)
	time.Sleep(20 * time.Millisecond)
	if n := len(am.alerts()); n != 0 {
		t.Fatalf("%d alerts during maintenance", n)
	}
	cfg.Maintenance = nil
	if err := m.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the alert held until the reload", func() bool { return len(am.alerts()) == 1 })
}

func TestConfigValidate(t *testing.T) {
	const (
		password = "pa55-s3cr3t"
		token    = "tok-s3cr3t"
	)
	tokenFile := writeFile(t, "token", token+"\n")
	emptyFile := writeFile(t, "empty", " \n")
	missing := tokenFile + ".missing"
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	good := Config{
		ExternalURL:   "https://pathlens.example.com",
		Alertmanagers: []AlertmanagerConfig{{URL: "http://127.0.0.1:9093/am/", BearerTokenFile: tokenFile}, {URL: "https://u:" + password + "@am.example.com"}},
		Webhooks:      []WebhookConfig{{URL: "https://u:" + password + "@hooks.example.com/x?token=abc", SecretFile: tokenFile}},
		MinLocations:  1, ResendInterval: time.Second, RequestTimeout: time.Minute,
	}
	if err := good.Validate(); err != nil {
		t.Errorf("good Config: %v", err)
	}
	am := func(url, tok string) Config {
		return Config{Alertmanagers: []AlertmanagerConfig{{URL: "http://ok:9093"}, {URL: url, BearerTokenFile: tok}}}
	}
	hook := func(url, secret string) Config {
		return Config{Webhooks: []WebhookConfig{{URL: url, SecretFile: secret}}}
	}
	tests := []struct {
		name  string
		cfg   Config
		field string
		msg   string // in the message
	}{
		{"ftp URL", am("ftp://am:21", ""), "alerting.alertmanagers[1].url", "want an http or https URL"},
		{"no host", am("http:///api", ""), "alerting.alertmanagers[1].url", "no host"},
		{"relative URL", am("am:9093", ""), "alerting.alertmanagers[1].url", "want an http or https URL"},
		{"not a URL", am("http://am:port", ""), "alerting.alertmanagers[1].url", "not a URL"},
		{"password breaking the URL", am("http://u:"+password[:4]+"/"+password[4:]+"@am:9093", ""), "alerting.alertmanagers[1].url", "not a URL"},
		{"escape in the password", am("http://u:%zz"+password+"@am:9093", ""), "alerting.alertmanagers[1].url", "not a URL"},
		{"fragment", am("http://u:"+password+"@am:9093/#x", ""), "alerting.alertmanagers[1].url", "#fragment"},
		{"query", am("http://u:"+password+"@am:9093/?k="+password, ""), "alerting.alertmanagers[1].url", "takes no query"},
		{"missing token file", am("http://am:9093", missing), "alerting.alertmanagers[1].bearer_token_file", "cannot read " + missing},
		{"empty token file", am("http://am:9093", emptyFile), "alerting.alertmanagers[1].bearer_token_file", "is empty"},
		{"user info and token", am("http://u:"+password+"@am:9093", tokenFile), "alerting.alertmanagers[1].url", "bearer_token_file is set too"},
		{"webhook URL", hook("mailto:x@example.com", ""), "alerting.webhooks[0].url", "want an http or https URL"},
		{"webhook secret", hook("https://h.example.com", missing), "alerting.webhooks[0].secret_file", "cannot read"},
		{"external URL with user", Config{ExternalURL: "https://u:" + password + "@pathlens"}, "alerting.external_url", "takes no user name or password"},
		{"min_locations 2", Config{MinLocations: 2}, "alerting.min_locations", "2: this pathlens probes from one location"},
		{"min_locations -1", Config{MinLocations: -1}, "alerting.min_locations", "-1"},
		{"resend too short", Config{ResendInterval: 10 * time.Millisecond}, "alerting.resend_interval", "10ms: want 1s to 1h0m0s"},
		{"timeout negative", Config{RequestTimeout: -time.Second}, "alerting.timeout", "-1s"},
		{"timeout too long", Config{RequestTimeout: time.Hour}, "alerting.timeout", "1h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			errs := unjoin(err)
			if len(errs) != 1 {
				t.Fatalf("%d errors: %v", len(errs), err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *FieldError", err)
			}
			if fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%q (field %q), want %s: …%s…", err, fe.Field, tc.field, tc.msg)
			}
			for _, secret := range []string{password, password[:4], password[4:], token} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%q shows a secret (%q)", err, secret)
				}
			}
			if _, nerr := New(tc.cfg, nil); nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New: %v, want %v", nerr, err)
			}
		})
	}
	// Several errors are all reported.
	err := Config{MinLocations: 3, Alertmanagers: []AlertmanagerConfig{{URL: "x"}}}.Validate()
	if n := len(unjoin(err)); n != 2 {
		t.Errorf("%d errors in %v, want 2", n, err)
	}
	// A token file that becomes unreadable is an error of the post, not
	// a leak of the token.
	if err := os.Chmod(tokenFile, 0); err == nil && os.Getuid() != 0 {
		if err := good.Validate(); err == nil || !strings.Contains(err.Error(), "bearer_token_file") {
			t.Errorf("unreadable token file: %v", err)
		}
	}
}

func TestAlertLabelsAndAnnotations(t *testing.T) {
	am := newFakeAM(t)
	m, _ := newTestManager(t, Config{ExternalURL: "https://pl.example.com", Alertmanagers: []AlertmanagerConfig{{URL: am.URL + "/prefix/"}}})
	// The fake answers /api/v2/alerts only: check the prefix is kept.
	if got := m.ams[0].endpoint; got != am.URL+"/prefix/api/v2/alerts" {
		t.Fatalf("endpoint %q", got)
	}
	am2 := newFakeAM(t)
	m, _ = newTestManager(t, Config{ExternalURL: "https://pl.example.com", Alertmanagers: []AlertmanagerConfig{{URL: am2.URL}}})
	run(t, m)
	c := finding("tls-weak-cipher", probe.SeverityCritical)
	labels := map[string]string{"team": "shop", "severity": "low", "target": "other", "9lives": "cat", "empty": ""}
	goDown(m, "shop api", labels, t0, c)
	waitFor(t, 5*time.Second, "two alerts", func() bool { return len(am2.alerts()) == 2 })
	down, _ := am2.latest(AlertTargetDown, "shop api")
	want := map[string]string{"alertname": AlertTargetDown, "target": "shop api", "module": "https", "severity": "critical", "team": "shop", "_9lives": "cat"}
	if !equalMaps(down.Labels, want) {
		t.Errorf("down labels %v, want %v", down.Labels, want)
	}
	if s := down.Annotations["summary"]; s != "shop api is down: connect: connection refused" {
		t.Errorf("summary %q", s)
	}
	if down.Annotations["advice"] != c.Advice || !strings.Contains(down.Annotations["description"], "2 consecutive runs of shop api (module https) have failed") {
		t.Errorf("annotations %v", down.Annotations)
	}
	if down.GeneratorURL != "https://pl.example.com/targets/shop%20api" {
		t.Errorf("generatorURL %q", down.GeneratorURL)
	}
	f, _ := am2.latest(AlertFinding, "shop api")
	want = map[string]string{"alertname": AlertFinding, "target": "shop api", "module": "https", "severity": "critical", "finding": c.ID, "team": "shop", "_9lives": "cat"}
	if !equalMaps(f.Labels, want) {
		t.Errorf("finding labels %v, want %v", f.Labels, want)
	}
	if f.Annotations["summary"] != c.Summary || f.Annotations["advice"] != c.Advice || !strings.Contains(f.Annotations["description"], c.ID) {
		t.Errorf("finding annotations %v", f.Annotations)
	}

	// A target without a module gets no empty module label.
	m.Observe("bare", "", nil, failRun(t0))
	m.Observe("bare", "", nil, failRun(t0.Add(time.Minute)))
	found := 0
	for _, a := range m.Alerts() {
		if a.Labels[LabelTarget] != "bare" {
			continue
		}
		found++
		if v, ok := a.Labels[LabelModule]; ok {
			t.Errorf("module label %q on a target without a module", v)
		}
	}
	if found != 1 {
		t.Errorf("%d alerts for bare, want its down alert", found)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRunCloseLeaveNoGoroutine(t *testing.T) {
	am := newFakeAM(t)
	hooks := newHookServer(t, nil, time.Now)
	am2 := newFakeAM(t)
	before := goleak.IgnoreCurrent()

	cfg := Config{Alertmanagers: []AlertmanagerConfig{{URL: am.URL}}, Webhooks: []WebhookConfig{{URL: hooks.URL}}}
	m, _ := newTestManager(t, cfg)
	m.cfg.ResendInterval = 10 * time.Millisecond
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	waitFor(t, 2*time.Second, "Run", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.running })
	if err := m.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "traffic", func() bool { _, n := hooks.got(); return n == 1 && len(am.alerts()) >= 2 })
	// A reload that replaces both senders.
	if err := m.Reload(Config{Alertmanagers: []AlertmanagerConfig{{URL: am2.URL}}, Webhooks: []WebhookConfig{{URL: hooks.URL + "/2"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the new Alertmanager", func() bool { return len(am2.alerts()) >= 1 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	m.Observe("api", "https", nil, okRun(time.Now().Add(time.Hour))) // ignored after Close
	if st, _ := m.Status("api"); st.State != StateDown {
		t.Errorf("Observe after Close changed the state to %s", st.State)
	}
	goleak.VerifyNone(t, before)

	// Run ends with its context too.
	m, _ = newTestManager(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errc <- m.Run(ctx) }()
	waitFor(t, 2*time.Second, "Run", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.running })
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Close before Run.
	m, _ = newTestManager(t, cfg)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	goleak.VerifyNone(t, before)
}
