package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pathlens/pathlens/serve/config"
)

// hostAllowed reports whether a request's Host header names this server.
// It is the defence against DNS rebinding: a web page on evil.example can
// point its own name at 127.0.0.1, but the browser then still sends
// "Host: evil.example", so only names the operator chose are answered.
// Accepted are IP literals (a page cannot make a browser send another
// origin's address), "localhost" and names under ".localhost", the host
// of the listen address, and the config's allowed_hosts ("*.example.com"
// matches names below example.com, not example.com itself).
func hostAllowed(cfg *config.Config, hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false // HTTP/1.0 without Host: nothing to check it against
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if lh, _, err := net.SplitHostPort(cfg.Listen); err == nil && strings.EqualFold(strings.TrimSuffix(lh, "."), host) {
		return true
	}
	for _, a := range cfg.AllowedHosts {
		a = strings.TrimSuffix(strings.ToLower(a), ".")
		if a == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(a, "*"); ok && strings.HasPrefix(suffix, ".") && strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// misdirected answers a request for a host this server does not serve.
func misdirected(w http.ResponseWriter, host string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusMisdirectedRequest)
	_, _ = fmt.Fprintf(w, "421 this server does not answer to host %q: add the name to allowed_hosts in the config to reach it by that name\n", host)
}

// probeLimiter caps the /probe requests that run at once and how long a
// request may wait for a slot, so callers from outside can neither exhaust
// file descriptors and memory nor starve the scheduled probes, which have
// their own, separate capacity (defaults.concurrency). Its size follows
// the current config; a reload that changes it applies to the next
// requests.
type probeLimiter struct {
	mu      sync.Mutex
	limit   int
	busy    int
	waiting int           // callers waiting for a slot
	free    chan struct{} // closed and replaced whenever a slot frees
}

// maxWaiting is how many callers may wait for a slot: a few rounds' worth.
// Past it a caller is refused at once rather than parked, so a flood costs
// a goroutine and a socket per caller only for the moment it takes to
// answer 429.
func maxWaiting(limit int) int { return max(4*limit, 16) }

func newProbeLimiter() *probeLimiter { return &probeLimiter{free: make(chan struct{})} }

// acquire waits up to wait for one of limit slots; it returns a release
// func, or false when none came free in time or ctx ended first.
func (l *probeLimiter) acquire(ctx context.Context, limit int, wait time.Duration) (func(), bool) {
	if limit < 1 {
		limit = 1
	}
	var timer *time.Timer
	queued := false
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if queued {
			l.mu.Lock()
			l.waiting--
			l.mu.Unlock()
		}
	}()
	for {
		l.mu.Lock()
		l.limit = limit
		if l.busy < l.limit {
			l.busy++
			l.mu.Unlock()
			var once sync.Once
			return func() { once.Do(l.release) }, true
		}
		if !queued {
			if l.waiting >= maxWaiting(limit) {
				l.mu.Unlock()
				return nil, false
			}
			l.waiting++
			queued = true
			timer = time.NewTimer(wait)
		}
		free := l.free
		l.mu.Unlock()
		select {
		case <-free:
		case <-timer.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (l *probeLimiter) release() {
	l.mu.Lock()
	l.busy--
	close(l.free)
	l.free = make(chan struct{})
	l.mu.Unlock()
}

// inFlight is how many /probe requests hold a slot now.
func (l *probeLimiter) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.busy
}
