package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

// Every lab scenario, probed by the real check code path (flags → options
// → engine → diagnose), yields exactly its expected findings; the ok-*
// ones yield nothing above info.
func TestLabScenarios(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	if len(m.Scenarios) < 20 {
		t.Fatalf("lab has %d scenarios, want at least 20", len(m.Scenarios))
	}
	for _, s := range m.Scenarios {
		t.Run(s.Name, func(t *testing.T) {
			run, err := ProbeScenario(ctx, m, s)
			// On a loaded machine a healthy loopback exchange can truly
			// take long enough for a timing finding (a 25 ms DNS answer on
			// a 5 ms probe is DNS_SLOW). Such a result is correct about
			// what it measured, but not what the scenario is about: probe
			// again, at most twice, and still demand an exact match.
			for retry := 0; retry < 2 && err == nil && !run.OK && onlyExtraTiming(run.Got, s.Expect); retry++ {
				t.Logf("retrying %s: timing finding from machine load: got %v", s.Name, run.Got)
				run, err = ProbeScenario(ctx, m, s)
			}
			if err != nil {
				t.Fatal(err)
			}
			r := run.Result
			if !run.OK {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Fatalf("findings = %v, want exactly %v\n%s", run.Got, s.Expect, b)
			}
			if strings.HasPrefix(s.Name, "ok-") {
				if w := r.WorstSeverity(); w.Rank() > probe.SeverityInfo.Rank() {
					t.Errorf("healthy scenario has a %s finding: %v", w, run.Got)
				}
				if !r.Success {
					t.Errorf("healthy scenario failed: %+v", r.Error)
				}
			}
			for _, f := range r.Findings {
				if f.Summary == "" || f.Advice == "" || f.Phase == "" {
					t.Errorf("finding %s lacks summary, advice or phase: %+v", f.ID, f)
				}
			}
			checkScenarioFacts(t, s, r)
		})
	}
}

// timingFindings depend only on how long a phase took.
var timingFindings = map[string]bool{"DNS_SLOW": true, "TLS_HANDSHAKE_SLOW": true, "HTTP_SERVER_SLOW": true}

// onlyExtraTiming reports whether got is expect plus timing findings only.
func onlyExtraTiming(got, expect []string) bool {
	want := map[string]int{}
	for _, id := range expect {
		want[id]++
	}
	for _, id := range got {
		if want[id] > 0 {
			want[id]--
			continue
		}
		if !timingFindings[id] {
			return false
		}
	}
	for _, n := range want {
		if n > 0 {
			return false
		}
	}
	return true
}

// checkScenarioFacts asserts the measured facts behind each scenario, not
// only the finding IDs.
func checkScenarioFacts(t *testing.T, s lab.Scenario, r *probe.Result) {
	t.Helper()
	phase := func(name string) float64 {
		d, ok := r.PhaseDuration(name)
		if !ok {
			t.Fatalf("no %s phase in %+v", name, r.Phases)
		}
		return d
	}
	switch s.Name {
	case "ok-h2":
		if r.HTTP.Proto != "HTTP/2.0" || r.TLS.ALPN != "h2" {
			t.Errorf("proto %s alpn %q, want HTTP/2.0 over h2", r.HTTP.Proto, r.TLS.ALPN)
		}
		if r.TLS.Resumption == nil || !r.TLS.Resumption.Resumed {
			t.Errorf("resumption = %+v, want resumed", r.TLS.Resumption)
		}
		if len(r.TLS.Chain) != 2 || len(r.TLS.VerifiedChain) != 3 {
			t.Errorf("chain sent %d, verified %d; want 2 and 3", len(r.TLS.Chain), len(r.TLS.VerifiedChain))
		}
	case "ok-h2c":
		if r.HTTP.Proto != "HTTP/2.0" || r.TLS != nil {
			t.Errorf("proto %s, tls %v; want HTTP/2.0 in cleartext", r.HTTP.Proto, r.TLS)
		}
		if r.H2 == nil || r.H2.ParseError != "" || len(r.H2.Streams) != 1 || r.H2.Streams[0].Status != 200 {
			t.Errorf("h2 = %+v, want one stream answered 200 seen by the frame tap", r.H2)
		}
	case "ok-https":
		if r.HTTP.Proto != "HTTP/1.1" {
			t.Errorf("proto = %s, want HTTP/1.1", r.HTTP.Proto)
		}
	case "dns-slow":
		if d := phase("dns"); d < 290 {
			t.Errorf("dns = %.1f ms, want ≥ 300", d)
		}
	case "tls-slow":
		if d := phase("tls"); d < 490 {
			t.Errorf("tls = %.1f ms, want ≥ 500", d)
		}
	case "http-slow":
		if d := phase("wait"); d < 390 {
			t.Errorf("wait = %.1f ms, want ≥ 400", d)
		}
	case "http-redirects":
		if n := len(r.HTTP.Redirects); n != 3 {
			t.Errorf("redirects = %d, want 3", n)
		}
		if r.Phases[0].Name != probe.PhaseRedirect || r.HTTP.Status != 200 {
			t.Errorf("first phase %s, status %d; want redirect then 200", r.Phases[0].Name, r.HTTP.Status)
		}
	case "tls-stall":
		if r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "tls" {
			t.Errorf("error = %+v, want timeout in tls", r.Error)
		}
	case "http-truncated":
		if !r.HTTP.Truncated || r.HTTP.BodyBytes != 100 || r.HTTP.ContentLength != 1000 {
			t.Errorf("http = %+v, want 100 of 1000 bytes, truncated", r.HTTP)
		}
	case "tls-old-version":
		if r.TLS.Version != "TLS 1.1" {
			t.Errorf("version = %s, want TLS 1.1", r.TLS.Version)
		}
	case "grpc-health-ok":
		g := r.GRPC
		if r.TLS == nil || r.TLS.ALPN != "h2" || !r.TLS.Verified || g == nil || g.HealthStatus != "SERVING" || g.StatusName != "OK" {
			t.Errorf("tls %+v grpc %+v, want a verified h2 connection and SERVING", r.TLS, g)
		}
		if r.TLS != nil && (r.TLS.Resumption == nil || !r.TLS.Resumption.Resumed) {
			t.Errorf("resumption = %+v, want resumed", r.TLS.Resumption)
		}
		phase("stream")
	case "grpc-health-not-serving":
		if g := r.GRPC; g == nil || g.HealthStatus != "NOT_SERVING" || g.StatusCode != 0 || r.Success {
			t.Errorf("grpc %+v success %v, want status OK with NOT_SERVING, failed", g, r.Success)
		}
	case "grpc-stream-ok":
		if g := r.GRPC; g == nil || g.Messages != 100 || g.LargestMessage != 64<<10 || g.Bytes != 99*100+64<<10 || !g.TrailersReceived {
			t.Errorf("grpc = %+v, want 100 messages, one of 64 KiB, and trailers", g)
		}
	case "grpc-stream-truncated":
		if g := r.GRPC; g == nil || g.Messages != 46 || !g.NoTrailers || g.ResetCode != "INTERNAL_ERROR" {
			t.Errorf("grpc = %+v, want 46 messages, then a reset without trailers", g)
		}
		if r.H2 != nil {
			rst := false
			for _, f := range r.H2.Frames {
				rst = rst || (f.Type == "RST_STREAM" && f.Dir == probe.H2Recv && f.ErrCode == "INTERNAL_ERROR")
			}
			if !rst {
				t.Errorf("frame timeline lacks the server's RST_STREAM INTERNAL_ERROR")
			}
		}
	case "grpc-stream-no-trailers":
		if g := r.GRPC; g == nil || g.Messages != 10 || !g.NoTrailers || g.ResetCode != "" || g.TrailersReceived {
			t.Errorf("grpc = %+v, want 10 messages, END_STREAM without trailers", g)
		}
	case "grpc-slow-stream":
		g := r.GRPC
		if g == nil || g.Messages != 10 || len(g.GapsMS) != 9 {
			t.Fatalf("grpc = %+v, want 10 messages, 9 gaps", g)
		}
		for i, gap := range g.GapsMS {
			if gap < 180 {
				t.Errorf("gap %d = %.1f ms, want ≥ 180 (200 ms apart)", i, gap)
			}
		}
	case "tcp-refused", "dns-nxdomain":
		if r.Success {
			t.Errorf("want failure")
		}
	case "ws-echo":
		// Healthy: nothing above info, a round trip, answered pings, a
		// clean close by pathlens after the hold.
		w := r.WS
		if !r.Success || r.WorstSeverity().Rank() > probe.SeverityInfo.Rank() {
			t.Errorf("healthy ws-echo: success %v, findings %v", r.Success, wsFindingIDs(r))
		}
		if w == nil || w.UpgradeStatus != 101 || w.MessagesIn != 1 || w.MessagesOut != 1 || len(w.PingRTTMS) < 3 ||
			w.Close == nil || w.Close.By != probe.WSClosedByClient || w.Close.Code != 1000 || !w.Close.FrameReceived {
			t.Errorf("ws = %+v close %+v", w, w.Close)
		}
		phase("wait")
		if d := phase("hold"); d < 990 {
			t.Errorf("hold = %.1f ms, want ≥ 1000", d)
		}
	case "ws-jwt":
		w := r.WS
		if w.Close == nil || w.Close.Code != 4401 || w.Close.By != probe.WSClosedByServer || w.TokenExp == nil || w.TokenSource != "jwt-hs256" {
			t.Errorf("ws = %+v close %+v, want 4401 from the server at the token's exp", w, w.Close)
		}
	case "ws-reject":
		if r.WS.UpgradeStatus != 401 || r.Success {
			t.Errorf("ws = %+v, want a failed upgrade answered 401", r.WS)
		}
	case "ws-drop":
		if c := r.WS.Close; c == nil || c.FrameReceived || c.Code != 1006 || r.Error == nil || r.Error.Cause != "abnormal_close" {
			t.Errorf("close %+v error %+v, want a drop without a close frame", c, r.Error)
		}
	case "ws-no-pong":
		if len(r.WS.Pings) < 2 || len(r.WS.PingRTTMS) != 0 {
			t.Errorf("pings %+v, want several, none answered", r.WS.Pings)
		}
	case "ws-idle":
		if c := r.WS.Close; c == nil || c.Code != 1001 || r.WS.IdleMS < 2900 {
			t.Errorf("close %+v idle %.0f ms, want 1001 after 3 s quiet", c, r.WS.IdleMS)
		}
	case "h2-upload-stall":
		h := r.H2
		if h == nil || len(h.Stalls) < 2 || len(h.Streams) != 1 || h.Streams[0].SentBytes != lab.H2UploadSize || h.Streams[0].SendWindow != 65535 {
			t.Fatalf("h2 = %+v, want ≥ 2 stalls and the 1 MiB upload on one stream", h)
		}
		for _, st := range h.Stalls {
			if st.Dir != probe.H2Send || st.Stream != 1 || st.DurationMS < 200 || st.InitialWindow != 65535 {
				t.Errorf("stall %+v, want pathlens waiting ≥ 200 ms on stream 1's 65535-byte window", st)
			}
		}
		if r.HTTP.Status != 200 {
			t.Errorf("status %d", r.HTTP.Status)
		}
	case "h2-rst":
		h := r.H2
		if h == nil || len(h.Streams) != 1 || h.Streams[0].Reset != "INTERNAL_ERROR" || h.Streams[0].ResetDir != probe.H2Recv ||
			h.Streams[0].RecvFrames != 3 || h.Streams[0].RecvBytes != 3*16384 || r.HTTP.BodyBytes != 3*16384 {
			t.Errorf("h2 streams %+v, body %d; want INTERNAL_ERROR from the server after 3 × 16 KiB", h, r.HTTP.BodyBytes)
		}
	case "h2-goaway":
		if g := r.H2.GoAway; g == nil || g.Code != "NO_ERROR" || g.LastStream != 1 || g.Debug != "lab: draining for restart" || !r.Success {
			t.Errorf("goaway %+v, success %v", g, r.Success)
		}
	case "hostile-gzip-bomb", "hostile-endless-body":
		if !r.HTTP.BodyLimited || r.HTTP.BodyBytes != probe.DefaultMaxBody {
			t.Errorf("body %d limited=%v, want stopped at %d", r.HTTP.BodyBytes, r.HTTP.BodyLimited, probe.DefaultMaxBody)
		}
	}
	if strings.HasPrefix(s.Name, "hostile-") {
		if r.TotalMS > r.TimeoutMS+500 {
			t.Errorf("hostile probe took %.0f ms with a %.0f ms budget", r.TotalMS, r.TimeoutMS)
		}
		if !r.Success && (r.Error == nil || r.Error.Class == "") {
			t.Errorf("hostile failure not classified: %+v", r.Error)
		}
	}
}

// wsFindingIDs lists the finding IDs of r.
func wsFindingIDs(r *probe.Result) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestOnlyExtraTiming(t *testing.T) {
	for _, c := range []struct {
		got, expect []string
		want        bool
	}{
		{[]string{"DNS_SLOW"}, nil, true},
		{[]string{"HTTP_STATUS", "TLS_HANDSHAKE_SLOW"}, []string{"HTTP_STATUS"}, true},
		{[]string{"TCP_REFUSED"}, nil, false},
		{nil, []string{"DNS_SLOW"}, false},                          // a missing expected finding is never excused
		{[]string{"DNS_SLOW"}, []string{"HTTP_SERVER_SLOW"}, false}, // nor a wrong one
	} {
		if got := onlyExtraTiming(c.got, c.expect); got != c.want {
			t.Errorf("onlyExtraTiming(%v, %v) = %v, want %v", c.got, c.expect, got, c.want)
		}
	}
}
