package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pathlens/pathlens/serve/config"
)

func TestAuth(t *testing.T) {
	f := getFixture(t)
	var logMu sync.Mutex
	var logs []string
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		logs = append(logs, fmt.Sprintf(format, args...))
	}
	srv := newServer(t, f, f.authCfg, logf)
	anon := newClient(t, srv)

	// Without credentials: API 401 (JSON), UI 401 (login page), open endpoints open.
	r := anon.get("/api/v1/targets")
	r.want(t, "API without token", 401, "application/json")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	r = anon.get("/")
	r.want(t, "UI without token", 401, "text/html")
	if !strings.Contains(r.body, "Log in") || !strings.Contains(r.body, `action="/login"`) || !strings.Contains(r.body, "Authorization: Bearer") {
		t.Errorf("401 page does not say how to log in:\n%s", r.body)
	}
	for _, p := range []string{"/targets/ok-http", "/findings", "/runs/1", "/api/v1/findings", "/api/v1/targets/ok-http/results"} {
		if st := anon.get(p).status; st != 401 {
			t.Errorf("%s without token: %d, want 401", p, st)
		}
	}
	anon.get("/healthz").want(t, "healthz open", 200, "text/plain")
	anon.get("/metrics").want(t, "metrics open", 200, "")
	anon.get("/static/style.css").want(t, "static open", 200, "text/css")
	okHTTP, _ := f.lab.Scenario("ok-http")
	// /probe reaches out with the modules' settings: open scrape endpoints
	// do not open it; only probe_endpoint.open does.
	anon.get("/probe?target="+url.QueryEscape(okHTTP.Target)).want(t, "probe closed with a token", 401, "text/plain")
	hdrProbe := newClient(t, srv)
	hdrProbe.bodies = anon.bodies
	hdrProbe.header.Set("Authorization", "Bearer "+testToken)
	hdrProbe.get("/probe?target="+url.QueryEscape(okHTTP.Target)).want(t, "probe with the token", 200, "text/plain")
	openProbe, err := config.Parse(f.authCfg.Path, []byte(strings.Replace(f.authYAML, "probe_endpoint:\n", "probe_endpoint:\n  open: true\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	newClient(t, newServer(t, f, openProbe, logf)).get("/probe?target="+url.QueryEscape(okHTTP.Target)).want(t, "probe_endpoint.open", 200, "text/plain")
	anon.get("/login").want(t, "login form", 200, "text/html")

	// Wrong credentials.
	bad := newClient(t, srv)
	bad.bodies = anon.bodies
	bad.header.Set("Authorization", "Bearer wrong")
	bad.get("/api/v1/targets").want(t, "wrong bearer", 401, "application/json")
	bad.header.Set("Authorization", "Basic "+testToken)
	bad.get("/api/v1/targets").want(t, "token under another scheme", 401, "application/json")
	bad.header.Del("Authorization")
	bad.cookies = []*http.Cookie{{Name: CookieName, Value: "wrong"}}
	bad.get("/api/v1/targets").want(t, "wrong cookie", 401, "application/json")
	anon.get("/login?token=wrong").want(t, "login with a wrong token", 401, "text/html")
	anon.do(http.MethodPost, "/login", strings.NewReader("token=wrong"),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}).want(t, "POST login wrong", 401, "text/html")

	// Bearer header.
	hdr := newClient(t, srv)
	hdr.bodies = anon.bodies
	hdr.header.Set("Authorization", "Bearer "+testToken)
	hdr.get("/api/v1/targets").want(t, "bearer", 200, "application/json")
	hdr.get("/").want(t, "UI with bearer", 200, "text/html")
	hdr.header.Set("Authorization", "bearer "+testToken)
	hdr.get("/api/v1/targets").want(t, "bearer, lower case scheme", 200, "application/json")

	// Cookie from /login.
	r = anon.get("/login?token=" + url.QueryEscape(testToken))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("login: %d Location %q", r.status, r.header.Get("Location"))
	}
	cookie := loginCookie(t, r)
	ck := newClient(t, srv)
	ck.bodies = anon.bodies
	ck.cookies = []*http.Cookie{{Name: cookie.Name, Value: cookie.Value}}
	ck.get("/api/v1/targets").want(t, "cookie", 200, "application/json")
	r = ck.get("/")
	r.want(t, "UI with cookie", 200, "text/html")
	if !strings.Contains(r.body, `href="/logout"`) {
		t.Error("logged-in page lacks the log-out link")
	}
	ck.get("/targets/tls-incomplete-chain").want(t, "target page with cookie", 200, "text/html")
	ck.get("/findings").want(t, "findings with cookie", 200, "text/html")
	run := got0(t, ck, "ok-h2")
	ck.get("/runs/"+itoa(run.ID)).want(t, "run with cookie", 200, "text/html")
	ck.get("/api/v1/findings").want(t, "findings API with cookie", 200, "application/json")
	ck.get("/api/v1/targets/ok-h2/percentiles?window=1h").want(t, "percentiles with cookie", 200, "application/json")

	// POSTed form works too.
	r = anon.do(http.MethodPost, "/login", strings.NewReader("token="+url.QueryEscape(testToken)),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST login: %d", r.status)
	}
	loginCookie(t, r)

	// Log out clears the cookie.
	r = ck.get("/logout")
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %q", r.status, r.header.Get("Set-Cookie"))
	}

	// open_endpoints: false protects /healthz, /metrics and /probe too.
	closed := newClient(t, newServer(t, f, f.closedCf, logf))
	closed.bodies = anon.bodies
	for _, p := range []string{"/healthz", "/metrics", "/probe?target=" + url.QueryEscape(okHTTP.Target)} {
		r := closed.get(p)
		r.want(t, p+" closed", 401, "text/plain")
	}
	closed.header.Set("Authorization", "Bearer "+testToken)
	closed.get("/healthz").want(t, "healthz with token", 200, "text/plain")
	closed.get("/static/style.css").want(t, "static with endpoints closed", 200, "text/css")

	// The token never appears in a log line or any body fetched above.
	logMu.Lock()
	if len(logs) == 0 {
		t.Error("no log line (a failed login should log one)")
	}
	for _, l := range logs {
		if strings.Contains(l, testToken) {
			t.Errorf("log line contains the token: %s", l)
		}
	}
	logMu.Unlock()
	if len(*anon.bodies) < 30 {
		t.Fatalf("only %d bodies scanned", len(*anon.bodies))
	}
	for i, b := range *anon.bodies {
		if strings.Contains(b, testToken) || strings.Contains(b, url.QueryEscape(testToken)) {
			t.Errorf("body %d contains the token:\n%.500s", i, b)
		}
	}
}

// loginCookie returns the session cookie a login set, checking its flags
// and that it does not hold the token itself.
func loginCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	res := http.Response{Header: r.header}
	for _, c := range res.Cookies() {
		if c.Name != CookieName {
			continue
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
			t.Errorf("cookie flags: %+v", c)
		}
		if strings.Contains(c.Value, testToken) || c.Value == "" {
			t.Errorf("cookie value reveals the token or is empty")
		}
		return c
	}
	t.Fatalf("no %s cookie in %v", CookieName, r.header)
	return nil
}

func TestNoAuthLogin(t *testing.T) {
	f := getFixture(t)
	c := newClient(t, newServer(t, f, f.cfg))
	r := c.get("/login?token=anything")
	if r.status != http.StatusSeeOther || r.header.Get("Set-Cookie") != "" {
		t.Errorf("login without auth: %d %v", r.status, r.header)
	}
	if strings.Contains(c.get("/").body, `href="/logout"`) {
		t.Error("log-out link shown without auth")
	}
}

func TestSecretEqual(t *testing.T) {
	if !secretEqual("abc", "abc") || secretEqual("abc", "abd") || secretEqual("", "abc") || secretEqual("abc", "abcd") {
		t.Fatal("secretEqual")
	}
	if a := cookieValue("a"); a == cookieValue("b") || a != cookieValue("a") || strings.Contains(cookieValue("tok"), "tok") {
		t.Fatal("cookieValue")
	}
}
