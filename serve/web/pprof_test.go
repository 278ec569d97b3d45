package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/serve/config"
)

// TestPprof: /debug/pprof exists only with Deps.Pprof, and answers only a
// loopback client that sends the auth token of a config that has one.
func TestPprof(t *testing.T) {
	withToken := &config.Config{Auth: config.Auth{Token: "s3cret-token"}}
	get := func(cfg *config.Config, pprofOn bool, remote, token string) (int, string) {
		h := New(Deps{Config: func() *config.Config { return cfg }, Pprof: pprofOn})
		req := httptest.NewRequest("GET", "http://127.0.0.1/debug/pprof/", nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		name          string
		cfg           *config.Config
		on            bool
		remote, token string
		want          int
		body          string
	}{
		{"loopback with token", withToken, true, "127.0.0.1:5000", "s3cret-token", http.StatusOK, "heap"},
		{"IPv6 loopback with token", withToken, true, "[::1]:5000", "s3cret-token", http.StatusOK, "goroutine"},
		{"not enabled", withToken, false, "127.0.0.1:5000", "s3cret-token", http.StatusNotFound, ""},
		{"no token sent", withToken, true, "127.0.0.1:5000", "", http.StatusUnauthorized, ""},
		{"wrong token", withToken, true, "127.0.0.1:5000", "guess", http.StatusUnauthorized, ""},
		{"remote client", withToken, true, "192.0.2.7:5000", "s3cret-token", http.StatusForbidden, "loopback clients only"},
		{"config without a token", &config.Config{}, true, "127.0.0.1:5000", "", http.StatusForbidden, "auth.token_file"},
	} {
		code, body := get(c.cfg, c.on, c.remote, c.token)
		if code != c.want || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %.80q, want %d containing %q", c.name, code, body, c.want, c.body)
		}
	}
}
