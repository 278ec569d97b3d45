package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
)

// The benchmarks here fill a State (and, for the findings page, a store)
// with a synthetic fleet and measure what a page costs at 10,000 and
// 100,000 targets, and what State holds per target. Run them with
//
//	go test -run '^$' -bench 'Scale' -benchtime 3x ./serve/web
//
// (each size builds its fleet once, which takes a while at 100,000).

// benchSizes are the fleet sizes measured.
var benchSizes = []int{10_000, 100_000}

// benchRunsPerTarget is an hour of runs at the default 30 s interval.
const benchRunsPerTarget = 120

// fleetState is target i's state in the synthetic fleet: 70 % ok, 15 %
// warning, 5 % critical, 8 % failing, 2 % pending.
func fleetState(i int) string {
	switch m := i % 100; {
	case m < 70:
		return StateOK
	case m < 85:
		return StateWarning
	case m < 90:
		return StateCritical
	case m < 98:
		return StateFailing
	}
	return StatePending
}

// benchConfig is a config naming n targets, modules alternating.
func benchConfig(n int) *config.Config {
	cfg := &config.Config{}
	for i := range n {
		mod := "default"
		if i%3 == 0 {
			mod = "internal"
		}
		cfg.Targets = append(cfg.Targets, &config.Target{
			Name: fmt.Sprintf("svc-%06d", i), URL: fmt.Sprintf("https://svc-%06d.example.net/health", i),
			Module: mod, Interval: 30 * time.Second, Labels: map[string]string{"team": fmt.Sprint("t", i%20)},
		})
	}
	return cfg
}

// benchFull is a realistic whole Result of an HTTPS probe over HTTP/2:
// phases, DNS, a three-certificate chain, HTTP facts, a short frame
// timeline and, as fleetState says, findings or an error.
func benchFull(name, state string, at time.Time) *probe.Result {
	r := &probe.Result{
		Schema: probe.Schema, Target: "https://" + name + ".example.net/health", Kind: "https", StartedAt: at,
		Success: true, TotalMS: 48.25, TimeoutMS: 10000, Findings: []probe.Finding{},
		DNS:  &probe.DNSInfo{Name: name + ".example.net", Server: "system", Rcode: "NOERROR", Addrs: []string{"192.0.2.10", "2001:db8::10"}, Source: "system"},
		Conn: &probe.ConnInfo{RemoteAddr: "192.0.2.10:443", LocalAddr: "10.0.0.5:51234", IPVersion: 4, Attempts: []probe.ConnectAttempt{{Addr: "192.0.2.10:443", StartMS: 1.2, DurationMS: 8.1}}},
		HTTP: &probe.HTTPInfo{Status: 200, Proto: "HTTP/2.0", HeadersBytes: 412, BodyBytes: 2, ContentLength: 2, Redirects: []probe.Redirect{}, KeepAlive: true, MaxBody: 10 << 20, ValidStatus: "200-399"},
	}
	start := 0.0
	for _, p := range []struct {
		n string
		d float64
	}{{"dns", 1.2}, {"connect", 8.1}, {"tls", 21.4}, {"request", 0.3}, {"wait", 15.9}, {"transfer", 1.35}} {
		r.Phases = append(r.Phases, probe.Phase{Name: p.n, StartMS: start, DurationMS: p.d})
		start += p.d
	}
	r.TLS = &probe.TLSInfo{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2", SNI: name + ".example.net", Verified: true,
		OfferedALPN: []string{"h2", "http/1.1"}, TrustStore: "system",
		Analysis:   &probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: "CN=Example Intermediate CA R3,O=Example Trust", IssuerInStore: true, AIA: []string{"http://ca.example.net/r3.crt"}},
		Resumption: &probe.ResumptionCheck{Tested: true, Resumed: true, HandshakeMS: 6.2}}
	for j, subj := range []string{"CN=" + name + ".example.net", "CN=Example Intermediate CA R3,O=Example Trust", "CN=Example Root CA X1,O=Example Trust"} {
		c := probe.Cert{Subject: subj, Issuer: "CN=Example Root CA X1,O=Example Trust", NotBefore: at.Add(-30 * 24 * time.Hour), NotAfter: at.Add(time.Duration(60+j*300) * 24 * time.Hour),
			SHA256: fmt.Sprintf("%064x", j*7919+len(name)), IsCA: j > 0, SelfSigned: j == 2}
		if j == 0 {
			c.DNSNames = []string{name + ".example.net", "www." + name + ".example.net"}
		}
		r.TLS.Chain = append(r.TLS.Chain, c)
	}
	r.TLS.VerifiedChain = r.TLS.Chain
	r.H2 = &probe.H2Info{FramesTotal: 9, Settings: map[string]map[string]uint32{"recv": {"MAX_CONCURRENT_STREAMS": 100, "INITIAL_WINDOW_SIZE": 65535}}, Stalls: []probe.H2Stall{},
		Counts: map[string]map[string]int{"send": {"SETTINGS": 2, "HEADERS": 1, "WINDOW_UPDATE": 1}, "recv": {"SETTINGS": 2, "HEADERS": 1, "DATA": 2}}}
	for j, f := range []struct{ dir, typ, flags string }{{"send", "SETTINGS", ""}, {"send", "WINDOW_UPDATE", ""}, {"send", "HEADERS", "END_STREAM|END_HEADERS"}, {"recv", "SETTINGS", ""},
		{"send", "SETTINGS", "ACK"}, {"recv", "SETTINGS", "ACK"}, {"recv", "HEADERS", "END_HEADERS"}, {"recv", "DATA", ""}, {"recv", "DATA", "END_STREAM"}} {
		r.H2.Frames = append(r.H2.Frames, probe.H2Frame{AtMS: 31 + float64(j), Dir: f.dir, Type: f.typ, Flags: f.flags, Stream: uint32(j % 2), Len: 6 * j})
	}
	switch state {
	case StateWarning:
		r.Findings = append(r.Findings, probe.Finding{ID: "TLS_CERT_EXPIRING", Severity: probe.SeverityWarning, Phase: "tls",
			Summary: "the certificate of " + name + ".example.net expires in 9 days", Advice: "Renew the certificate before it expires.", Evidence: map[string]any{"days_left": 9, "subject": "CN=" + name}})
	case StateCritical:
		r.Findings = append(r.Findings, probe.Finding{ID: "TLS_CHAIN_INCOMPLETE", Severity: probe.SeverityCritical, Phase: "tls",
			Summary: "the server does not send the intermediate certificate", Advice: "Configure the server to send the whole chain.", Evidence: map[string]any{"missing_issuer": "CN=Example Intermediate CA R3"}},
			probe.Finding{ID: "HTTP_SERVER_SLOW", Severity: probe.SeverityWarning, Phase: "wait", Summary: "the server took 812 ms to answer", Advice: "Look at the server.", Evidence: map[string]any{"wait_ms": 812}})
	case StateFailing:
		r.Success, r.HTTP, r.H2 = false, nil, nil
		r.Error = &probe.ErrorInfo{Class: probe.ClassConnect, Phase: "connect", Message: "dial tcp 192.0.2.10:443: connect: connection refused", Cause: probe.CauseRefused}
		r.Findings = append(r.Findings, probe.Finding{ID: "TCP_REFUSED", Severity: probe.SeverityCritical, Phase: "connect",
			Summary: "the server refused the connection", Advice: "Is the service running and listening on that port?", Evidence: map[string]any{"addr": "192.0.2.10:443"}})
	}
	return r
}

// benchSmall is an older run: what State needs of it (it keeps only the
// newest whole), not a whole Result.
func benchSmall(at time.Time, ok bool, total float64) *probe.Result {
	return &probe.Result{Schema: probe.Schema, StartedAt: at, Success: ok, TotalMS: total}
}

// fleet is one synthetic fleet.
type fleet struct {
	cfg   *config.Config
	state *State
	st    *store.Store
	now   time.Time
}

// decodeCopy is a Result of its own (as Restore and the engine hand
// State), not one shared by every target.
func decodeCopy(tb testing.TB, tmpl []byte) *probe.Result {
	r := new(probe.Result)
	if err := json.Unmarshal(tmpl, r); err != nil {
		tb.Fatal(err)
	}
	return r
}

// newFleet builds a fleet of n targets: an hour of runs each in State
// (the latest one whole), and the latest run of every target with a
// finding in a store that Cleanup closes.
func newFleet(b testing.TB, n int) *fleet {
	now := time.Now().UTC().Truncate(time.Second)
	f := &fleet{cfg: benchConfig(n), state: NewState(), now: now}
	st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	f.st = st
	var recs []store.Record
	for i, t := range f.cfg.Targets {
		state := fleetState(i)
		if state == StatePending {
			continue
		}
		for k := benchRunsPerTarget - 1; k >= 1; k-- {
			at := now.Add(-time.Duration(k)*30*time.Second - time.Duration(i%30)*time.Second)
			f.state.Record(t.Name, t.Module, benchSmall(at, state != StateFailing || k%2 == 0, 40+float64((i+k)%17)), 0)
		}
		tmpl, err := json.Marshal(benchFull(t.Name, state, now.Add(-time.Duration(i%30)*time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		last := decodeCopy(b, tmpl)
		f.state.Record(t.Name, t.Module, last, 0)
		if len(last.Findings) > 0 {
			recs = append(recs, store.Record{Target: t.Name, Module: t.Module, Result: decodeCopy(b, tmpl)})
		}
		if len(recs) == 1000 {
			if err := st.Write(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := st.Write(context.Background(), recs); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkScalePages measures the overview and the findings page (the
// first page, as a browser asks for it), a filtered overview, and the
// JSON APIs as a client that passes no parameter gets them, at each fleet
// size: time per request, and the bytes of the answer as html-bytes.
func BenchmarkScalePages(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			f := newFleet(b, n)
			h := New(Deps{Config: func() *config.Config { return f.cfg }, Store: f.st, State: f.state, Now: func() time.Time { return f.now }})
			for _, path := range []string{"/", "/findings", "/findings?sort=-runs", "/findings?sort=since&limit=1000", "/?state=failing&q=svc-00", "/api/v1/targets", "/api/v1/findings"} {
				b.Run(path, func(b *testing.B) {
					var size int
					for b.Loop() {
						req := httptest.NewRequest(http.MethodGet, path, nil)
						req.Host = "127.0.0.1"
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Fatalf("%s: %d %.300s", path, w.Code, w.Body.String())
						}
						size = w.Body.Len()
					}
					b.ReportMetric(float64(size), "html-bytes")
				})
			}
		})
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScaleStateMemory measures what State holds per target after an
// hour of runs at the default 30 s interval, the latest one a whole
// Result of its own, as bytes/target; baseline is the State design that
// kept the latest whole Result and every sample of the hour.
func BenchmarkScaleStateMemory(b *testing.B) {
	const n = 10_000
	cfg := benchConfig(n)
	now := time.Now().UTC()
	tmpls := map[string][]byte{}
	for _, st := range []string{StateOK, StateWarning, StateCritical, StateFailing} {
		j, err := json.Marshal(benchFull("svc-000000", st, now))
		if err != nil {
			b.Fatal(err)
		}
		tmpls[st] = j
	}
	fill := func(record func(name, module string, r *probe.Result)) {
		for i, t := range cfg.Targets {
			st := fleetState(i)
			if st == StatePending {
				st = StateOK
			}
			for k := benchRunsPerTarget - 1; k >= 1; k-- {
				record(t.Name, t.Module, benchSmall(now.Add(-time.Duration(k)*30*time.Second), true, 40))
			}
			record(t.Name, t.Module, decodeCopy(b, tmpls[st]))
		}
	}
	b.Run("design=current", func(b *testing.B) {
		var per float64
		for b.Loop() {
			before := heapInUse()
			s := NewState()
			fill(func(name, module string, r *probe.Result) { s.Record(name, module, r, 0) })
			per = float64(heapInUse()-before) / n
			runtime.KeepAlive(s)
		}
		b.ReportMetric(per, "bytes/target")
	})
	b.Run("design=baseline", func(b *testing.B) {
		var per float64
		for b.Loop() {
			before := heapInUse()
			s := map[string]*baselineTarget{}
			fill(func(name, module string, r *probe.Result) {
				ts := s[name]
				if ts == nil {
					ts = &baselineTarget{}
					s[name] = ts
				}
				ts.module, ts.last, ts.lastID = module, r, 0
				ts.samples = append(ts.samples, baselineSample{at: r.StartedAt, totalMS: r.TotalMS, ok: r.Success})
			})
			per = float64(heapInUse()-before) / n
			runtime.KeepAlive(s)
		}
		b.ReportMetric(per, "bytes/target")
	})
}

// baselineTarget is what State kept per target before it kept summaries:
// the latest whole Result and every sample of the hour (up to 4096).
type baselineTarget struct {
	module  string
	last    *probe.Result
	lastID  int64
	samples []baselineSample
}

type baselineSample struct {
	at      time.Time
	totalMS float64
	ok      bool
}
