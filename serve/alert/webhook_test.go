package alert

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

func TestSignVector(t *testing.T) {
	// openssl: printf '%s' '1772366400.{"version":1}' | openssl dgst -sha256 -hmac hook-secret
	const want = "sha256=f76f82a8b1907a6cc081d16ca736e45a43fb558591b557aef937324fbbfba157"
	if got := Sign([]byte("hook-secret"), []byte(`{"version":1}`), "1772366400"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret, body := []byte("s3cr3t"), []byte(`{"version":1,"target":"api"}`)
	now := time.Unix(1772366400, 0)
	ts := fmt.Sprint(now.Unix())
	sig := Sign(secret, body, ts)
	if err := VerifySignature(secret, body, ts, sig, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	bad := []struct {
		name                   string
		secret, body           []byte
		ts, sig                string
		now                    time.Time
		badSig, mentionsHeader bool
	}{
		{"wrong secret", []byte("other"), body, ts, sig, now, true, false},
		{"tampered body", secret, []byte(`{"version":1,"target":"apx"}`), ts, sig, now, true, false},
		{"other timestamp, same signature", secret, body, fmt.Sprint(now.Unix() + 1), sig, now, true, false},
		{"no signature", secret, body, ts, "", now, true, false},
		{"hex without sha256=", secret, body, ts, strings.TrimPrefix(sig, "sha256="), now, true, false},
		{"old timestamp", secret, body, ts, sig, now.Add(10 * time.Minute), false, true},
		{"future timestamp", secret, body, ts, sig, now.Add(-10 * time.Minute), false, true},
		{"bad timestamp", secret, body, "yesterday", sig, now, false, true},
	}
	for _, tc := range bad {
		err := VerifySignature(tc.secret, tc.body, tc.ts, tc.sig, tc.now, 5*time.Minute)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if errors.Is(err, ErrBadSignature) != tc.badSig {
			t.Errorf("%s: %v; ErrBadSignature %v", tc.name, err, tc.badSig)
		}
		if tc.mentionsHeader && !strings.Contains(err.Error(), HeaderTimestamp) {
			t.Errorf("%s: %v does not name %s", tc.name, err, HeaderTimestamp)
		}
	}
}

// hookManager runs a Manager with one webhook at url, signed with the
// secret in a file when secret is not "".
func hookManager(t *testing.T, url, secret string) (*Manager, *syncBuffer) {
	t.Helper()
	cfg := Config{ExternalURL: "https://pathlens.example.com/", Webhooks: []WebhookConfig{{URL: url}}}
	if secret != "" {
		cfg.Webhooks[0].SecretFile = writeFile(t, "hook-secret", secret+"\n")
	}
	m, buf := newTestManager(t, cfg)
	run(t, m)
	return m, buf
}

// goDown observes two failed runs of target: pending → down.
func goDown(m *Manager, target string, labels map[string]string, start time.Time, findings ...probe.Finding) {
	m.Observe(target, "https", labels, failRun(start, findings...))
	m.Observe(target, "https", labels, failRun(start.Add(time.Minute), findings...))
}

func TestWebhookDelivery(t *testing.T) {
	secret := "hook-s3cr3t"
	srv := newHookServer(t, []byte(secret), time.Now)
	m, _ := hookManager(t, srv.URL+"/hook", secret)
	start := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	w := finding("tls-cert-expiring", probe.SeverityWarning)
	labels := map[string]string{"team": "shop", "alertname": "spoofed", "bad-name": "x"}

	m.Observe("shop/api", "https", labels, failRun(start, w))
	time.Sleep(20 * time.Millisecond)
	if evs, n := srv.got(); n != 0 {
		t.Fatalf("a first failure (pending) sent %d documents: %+v", n, evs)
	}
	m.Observe("shop/api", "https", labels, failRun(start.Add(time.Minute), w))
	waitFor(t, 5*time.Second, "the down document", func() bool { evs, _ := srv.got(); return len(evs) == 1 })

	srv.mu.Lock()
	badSigs, ids := srv.badSigs, srv.ids
	srv.mu.Unlock()
	if len(badSigs) != 0 {
		t.Fatalf("signature checks failed: %v", badSigs)
	}
	evs, _ := srv.got()
	ev := evs[0]
	if ev.Version != EventVersion || ev.ID == "" || ev.ID != ids[0] || len(ev.ID) != 32 {
		t.Errorf("version %d, id %q (header %q)", ev.Version, ev.ID, ids[0])
	}
	if ev.From != StatePending || ev.To != StateDown || ev.Target != "shop/api" || ev.Module != "https" || ev.Held {
		t.Errorf("event %+v", ev)
	}
	if !ev.At.Equal(start.Add(time.Minute)) || !strings.HasPrefix(ev.Reason, "2 consecutive failed runs") {
		t.Errorf("at %s, reason %q", ev.At, ev.Reason)
	}
	if len(ev.Labels) != 2 || ev.Labels["team"] != "shop" || ev.Labels["bad_name"] != "x" {
		t.Errorf("labels %v, want team and bad_name, alertname dropped", ev.Labels)
	}
	if ev.Link != "https://pathlens.example.com/targets/shop%2Fapi" {
		t.Errorf("link %q", ev.Link)
	}
	if ev.Error == nil || ev.Error.Class != "connect" || ev.Error.Phase != "connect" || ev.Error.Message != "connection refused" {
		t.Errorf("error %+v", ev.Error)
	}
	if len(ev.Findings) != 1 || ev.Findings[0].ID != w.ID || ev.Findings[0].Severity != "warning" ||
		ev.Findings[0].Summary != w.Summary || ev.Findings[0].Advice != w.Advice || !ev.Findings[0].Alerting {
		t.Errorf("findings %+v", ev.Findings)
	}

	waitFor(t, 2*time.Second, "the delivery record", func() bool { return len(m.Deliveries("shop/api")) == 1 })
	d := m.Deliveries("shop/api")[0]
	if !d.OK() || d.ID != ev.ID || d.Status != 200 || d.Attempts != 1 || d.Change != "pending → down" || d.URL != srv.URL+"/hook" {
		t.Errorf("delivery %+v", d)
	}
	if s := m.Stats(); s.WebhooksSent != 1 || s.WebhookErrors != 0 {
		t.Errorf("stats %+v", s)
	}

	// Recovery: down → up, a second document; staying up sends nothing.
	m.Observe("shop/api", "https", labels, okRun(start.Add(2*time.Minute)))
	m.Observe("shop/api", "https", labels, okRun(start.Add(3*time.Minute)))
	waitFor(t, 5*time.Second, "the up document", func() bool { evs, _ := srv.got(); return len(evs) == 2 })
	time.Sleep(20 * time.Millisecond)
	evs, n := srv.got()
	if n != 2 || evs[1].From != StateDown || evs[1].To != StateUp || evs[1].Error != nil || len(evs[1].Findings) != 0 || evs[1].ID == ev.ID {
		t.Errorf("%d requests; second event %+v", n, evs[1])
	}
	waitFor(t, 2*time.Second, "two delivery records", func() bool { return len(m.Deliveries("shop/api")) == 2 })
	if ds := m.Deliveries("shop/api"); ds[0].Change != "down → up" {
		t.Errorf("deliveries not newest first: %+v", ds)
	}
}

func TestWebhookRetry(t *testing.T) {
	srv := newHookServer(t, []byte("k"), time.Now)
	srv.answer = func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	m, _ := hookManager(t, srv.URL, "k")
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "the delivery record", func() bool { return len(m.Deliveries("api")) == 1 })
	time.Sleep(20 * time.Millisecond)
	evs, n := srv.got()
	srv.mu.Lock()
	ids, badSigs := srv.ids, srv.badSigs
	srv.mu.Unlock()
	if n != 3 || len(evs) != 1 || len(badSigs) != 0 {
		t.Fatalf("%d requests, %d documents, signature errors %v; want 3 requests, 1 document", n, len(evs), badSigs)
	}
	for _, id := range ids {
		if id != evs[0].ID {
			t.Errorf("delivery ids %q: not the same on every attempt", ids)
		}
	}
	d := m.Deliveries("api")[0]
	if !d.OK() || d.Attempts != 3 || d.Status != 200 || d.ID != evs[0].ID {
		t.Errorf("delivery %+v", d)
	}
	if s := m.Stats(); s.WebhooksSent != 1 || s.WebhookErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	srv := newHookServer(t, nil, time.Now)
	srv.answer = func(int) int { return http.StatusServiceUnavailable }
	cfg := Config{Webhooks: []WebhookConfig{{URL: srv.URL}}}
	m, buf := newTestManager(t, cfg)
	m.hookAttempts = 3
	run(t, m)
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "the delivery record", func() bool { return len(m.Deliveries("api")) == 1 })
	d := m.Deliveries("api")[0]
	if d.OK() || d.Attempts != 3 || d.Status != 503 || !strings.Contains(d.Error, "HTTP 503") {
		t.Errorf("delivery %+v", d)
	}
	if _, n := srv.got(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if s := m.Stats(); s.WebhookErrors != 1 || s.WebhooksSent != 0 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(buf.String(), "webhook delivery failed") {
		t.Errorf("no log line: %s", buf)
	}

	// A 4xx other than 408 and 429 is not retried.
	srv.mu.Lock()
	srv.requests = 0
	srv.answer = func(int) int { return http.StatusBadRequest }
	srv.mu.Unlock()
	m.Observe("api", "https", nil, okRun(time.Now().Add(time.Hour)))
	waitFor(t, 5*time.Second, "the second delivery record", func() bool { return len(m.Deliveries("api")) == 2 })
	if d := m.Deliveries("api")[0]; d.Attempts != 1 || d.Status != 400 {
		t.Errorf("a 400 was retried: %+v", d)
	}
}

func TestWebhookGivesUpAfterMaxElapsed(t *testing.T) {
	srv := newHookServer(t, nil, time.Now)
	srv.answer = func(int) int { return http.StatusBadGateway }
	m, _ := newTestManager(t, Config{Webhooks: []WebhookConfig{{URL: srv.URL}}})
	m.hookAttempts = 100
	m.hookBackoff = 50 * time.Millisecond
	m.hookMaxElapsed = 200 * time.Millisecond
	run(t, m)
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "the delivery record", func() bool { return len(m.Deliveries("api")) == 1 })
	// 50 + 100 ms of waits fit in 200 ms; 200 more do not.
	if d := m.Deliveries("api")[0]; d.OK() || d.Attempts != 3 {
		t.Errorf("delivery %+v, want 3 attempts", d)
	}
}

func TestWebhookNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	m, _ := hookManager(t, redirector.URL, "k")
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "the delivery record", func() bool { return len(m.Deliveries("api")) == 1 })
	d := m.Deliveries("api")[0]
	if d.OK() || d.Status != http.StatusTemporaryRedirect || d.Attempts != 1 {
		t.Errorf("delivery %+v, want a failed 307 with no retry", d)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestWebhookSecretsNotShown(t *testing.T) {
	const (
		user, pass = "hookuser", "hookpass-s3cr3t"
		query      = "qs-s3cr3t"
		secret     = "hmac-s3cr3t"
	)
	var gotUser, gotPass atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		gotUser.Store(u)
		gotPass.Store(p)
		http.Error(w, "no thanks", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	// A closed port: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	hostOf := strings.TrimPrefix(srv.URL, "http://")
	cfg := Config{Webhooks: []WebhookConfig{
		{URL: "http://" + user + ":" + pass + "@" + hostOf + "/hook?token=" + query, SecretFile: writeFile(t, "secret", secret)},
		{URL: "http://" + user + ":" + pass + "@" + closed + "/?token=" + query, SecretFile: writeFile(t, "secret", secret)},
		{URL: srv.URL, SecretFile: writeFile(t, "gone", secret)},
	}}
	m, buf := newTestManager(t, cfg)
	m.hookAttempts = 2
	if err := os.Remove(cfg.Webhooks[2].SecretFile); err != nil {
		t.Fatal(err)
	}
	run(t, m)
	goDown(m, "api", nil, time.Now())
	waitFor(t, 5*time.Second, "three delivery records", func() bool { return len(m.Deliveries("api")) == 3 })

	if u, _ := gotUser.Load().(string); u != user {
		t.Errorf("basic auth user %q, want %q", u, user)
	}
	if p, _ := gotPass.Load().(string); p != pass {
		t.Errorf("basic auth password not sent")
	}
	ds := m.Deliveries("api")
	shown := fmt.Sprintf("%+v", ds)
	logged := buf.String()
	for _, s := range []string{pass, query, secret} {
		if strings.Contains(shown, s) {
			t.Errorf("Deliveries show %q: %s", s, shown)
		}
		if strings.Contains(logged, s) {
			t.Errorf("the log shows %q: %s", s, logged)
		}
	}
	var refused, secretErr bool
	for _, d := range ds {
		if d.OK() {
			t.Errorf("delivery succeeded: %+v", d)
		}
		if strings.Contains(d.URL, user) {
			t.Errorf("delivery URL %q shows the user name", d.URL)
		}
		if strings.Contains(d.Error, "refused") {
			refused = true
		}
		if strings.Contains(d.Error, "secret_file") && d.Attempts == 1 {
			secretErr = true
		}
	}
	if !refused || !secretErr {
		t.Errorf("want a refused connection and an unreadable secret_file among %s", shown)
	}
	if !strings.Contains(shown, "REDACTED") || !strings.Contains(logged, "webhook delivery failed") {
		t.Errorf("deliveries %s; log %s", shown, logged)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://u:p@h:1/x?token=t&a=b": "http://REDACTED@h:1/x?a=REDACTED&token=REDACTED",
		"https://h/x":                  "https://h/x",
		"http://h/%zz":                 "(unparsable URL)",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
