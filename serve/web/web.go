// Package web serves the HTTP side of `pathlens serve`: the web UI (server
// rendered html/template pages with inline SVG charts; one small static
// script, live.js, updates states in place from /api/v1/events, and every
// page works without it), the public status page (/status), the JSON API
// under /api/v1, /metrics, the blackbox-compatible /probe and /healthz,
// behind an optional bearer token.
//
// Every string that reaches a page goes through html/template, so target
// names, URLs and anything a probed server said are escaped. Pages use
// static stylesheets and scripts and no inline script or style, so the
// Content-Security-Policy can stay strict.
package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

//go:embed ui
var uiFS embed.FS

// Deps are what the handlers need; the serve wiring fills them.
type Deps struct {
	Config  func() *config.Config // current config (reload swaps it)
	Store   *store.Store
	State   *State
	Metrics http.Handler // served at /metrics
	// Probe runs one probe for /probe; module "" = the config's default for
	// the URL's scheme. The context carries the probe's deadline (the
	// scrape timeout); an error means the request was wrong (bad target or
	// module), a failed probe is a Result.
	Probe   func(ctx context.Context, target, module string) (*probe.Result, error)
	Version string
	Now     func() time.Time // nil = time.Now
	Logf    func(format string, args ...any)
	// Health is asked by /healthz: a nil error is answered "ok", an error
	// with 503 and its message on one line, so that a server that probes
	// but loses its history (failing writes) does not look healthy. A nil
	// Health is always ok.
	Health func() error
	// Alerts gives each target's state with memory, maintenance and
	// webhook deliveries (nil: the pages leave them out).
	Alerts Alerts
	// Pprof serves the runtime profiles under /debug/pprof/ (serve
	// --pprof): to loopback clients with the auth token only.
	Pprof bool
	// Events feeds GET /api/v1/events (nil: 404).
	Events *Events
	// ReloadError reports the last config reload's failure and when it
	// was, nil once a reload succeeds: every page says so while it lasts.
	ReloadError func() (time.Time, error)
}

// Security headers set on every response.
const (
	contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

type server struct {
	d      Deps
	pages  map[string]*template.Template
	mux    *http.ServeMux
	probes *probeLimiter // caps concurrent /probe requests
	status statusCache   // the status page's per-day counts (status.go)
}

// New returns the handler for every route of `pathlens serve`.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logf == nil {
		d.Logf = func(string, ...any) {}
	}
	if d.State == nil {
		d.State = NewState()
	}
	s := &server{d: d, pages: parsePages(), probes: newProbeLimiter()}
	s.addReloadBanner()
	mux := http.NewServeMux()

	static, err := fs.Sub(uiFS, "ui/static")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if d.Health != nil {
			if err := d.Health(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(strings.Join(strings.Fields(err.Error()), " ") + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	mux.HandleFunc("GET /probe", s.handleProbe)
	mux.HandleFunc("GET /login", s.handleLogin)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("GET /logout", s.handleLogout)

	mux.HandleFunc("GET /api/v1/targets", s.apiTargets)
	mux.HandleFunc("GET /api/v1/targets/{name}", s.apiTarget)
	mux.HandleFunc("GET /api/v1/targets/{name}/results", s.apiResults)
	mux.HandleFunc("GET /api/v1/targets/{name}/percentiles", s.apiPercentiles)
	mux.HandleFunc("GET /api/v1/runs/{id}", s.apiRun)
	mux.HandleFunc("GET /api/v1/findings", s.apiFindings)
	mux.HandleFunc("GET /api/v1/events", s.apiEvents)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		s.apiError(w, http.StatusNotFound, "no such API endpoint")
	})

	mux.HandleFunc("GET /{$}", s.pageOverview)
	mux.HandleFunc("GET /targets/{name}", s.pageTarget)
	mux.HandleFunc("GET /runs/{id}", s.pageRun)
	mux.HandleFunc("GET /findings", s.pageFindings)
	mux.HandleFunc("GET /status", s.pageStatus)
	mux.HandleFunc("GET /status.json", s.apiStatus)
	if d.Pprof {
		mux.Handle("/debug/pprof/", s.pprofHandler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
	})
	s.mux = mux
	return s
}

// ServeHTTP sets the security headers, refuses hosts it does not serve
// (DNS rebinding), enforces auth and routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	cfg := s.cfg()
	if !hostAllowed(cfg, r.Host) {
		misdirected(w, r.Host)
		return
	}
	if tok := cfg.Auth.Token; tok != "" && needsAuth(r.URL.Path, cfg.Auth.OpenEndpoints, cfg.ProbeEndpoint.Open) && !statusPublic(cfg, r.URL.Path) && !authorized(r, tok) {
		s.unauthorized(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// cfg returns the current config, never nil.
func (s *server) cfg() *config.Config {
	if s.d.Config != nil {
		if c := s.d.Config(); c != nil {
			return c
		}
	}
	return &config.Config{}
}

// findTarget returns the configured target called name.
func findTarget(cfg *config.Config, name string) *config.Target {
	for _, t := range cfg.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// targetLink is the UI address of a target page.
func targetLink(name string) string { return "/targets/" + url.PathEscape(name) }

// ---- responses ----

func (s *server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.d.Logf("web: encode JSON: %v", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

type apiErrorBody struct {
	Error string `json:"error"`
}

func (s *server) apiError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, apiErrorBody{Error: msg})
}

// storeError answers a failed store query: 503 while the request's own
// context is done (client went away or shutdown), 500 otherwise.
func (s *server) storeError(w http.ResponseWriter, r *http.Request, err error, api bool) {
	status := http.StatusInternalServerError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	s.d.Logf("web: %s %s: store: %v", r.Method, r.URL.Path, err)
	if api {
		s.apiError(w, status, "storage error")
		return
	}
	s.pageError(w, r, status, "Storage error", "The history database could not answer; the server log has the details.")
}

// render executes a page template into a buffer, then writes it, so a
// template error becomes a clean 500.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t := s.pages[page]
	var b bytes.Buffer
	if t == nil {
		s.d.Logf("web: no template %q", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		s.d.Logf("web: %s %s: render %s: %v", r.Method, r.URL.Path, page, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *server) pageError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, "error", &errorPage{
		base:    s.base(title, ""),
		Status:  status,
		Message: msg,
	})
}

// wantsHTML reports whether a response for this path is meant for a browser.
func wantsHTML(path string) bool {
	return !strings.HasPrefix(path, "/api/") && path != "/metrics" && path != "/probe" && path != "/healthz"
}
