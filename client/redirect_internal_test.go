package client

import (
	"net/http"
	"net/url"
	"testing"
)

func reqs(t *testing.T, urls ...string) []*http.Request {
	t.Helper()
	out := make([]*http.Request, len(urls))
	for i, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &http.Request{URL: u, Header: http.Header{}}
	}
	return out
}

// TestLeftOrigin: the decision behind stripping credentials. A scheme
// change on the same host and port leaves the origin; so does a hop that
// left and came back.
func TestLeftOrigin(t *testing.T) {
	tests := []struct {
		name  string
		chain []string // via..., then the next request
		left  bool
	}{
		{"same origin", []string{"https://api.example:8443/a", "https://api.example:8443/b"}, false},
		{"default port written out", []string{"https://api.example/a", "https://API.example:443/b"}, false},
		{"https to http, same host and port", []string{"https://api.example:8443/a", "http://api.example:8443/b"}, true},
		{"http to https, same host", []string{"http://api.example/a", "https://api.example/b"}, true},
		{"another port", []string{"http://127.0.0.1:8080/", "http://127.0.0.1:8081/"}, true},
		{"a subdomain", []string{"https://example.com/", "https://api.example.com/"}, true},
		{"left and came back", []string{"https://api.example/", "https://other.example/", "https://api.example/"}, true},
		{"three hops on the origin", []string{"https://api.example/", "https://api.example/x", "https://api.example/y"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := reqs(t, tt.chain...)
			next, via := rs[len(rs)-1], rs[:len(rs)-1]
			if got := leftOrigin(next, via); got != tt.left {
				t.Errorf("leftOrigin = %v, want %v", got, tt.left)
			}
			next.Header.Set("Authorization", "Bearer x")
			next.Header.Set("Cookie", "a=b")
			next.Header.Set("X-Other", "1")
			if err := checkRedirect(nil)(next, via); err != nil {
				t.Fatal(err)
			}
			if stripped := next.Header.Get("Authorization") == "" && next.Header.Get("Cookie") == ""; stripped != tt.left {
				t.Errorf("credentials stripped = %v, want %v", stripped, tt.left)
			}
			if next.Header.Get("X-Other") != "1" {
				t.Error("X-Other was stripped")
			}
		})
	}
}
