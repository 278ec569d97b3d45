package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// refusedRedirect is an https probe whose first hop answered 302 to a URL
// that CheckRedirect refused.
func refusedRedirect() *probe.Result {
	r := healthy()
	r.Success = false
	r.Phases = []probe.Phase{{Name: "redirect", StartMS: 0, DurationMS: 83.4}}
	r.HTTP = &probe.HTTPInfo{ContentLength: -1, ValidStatus: "200-399", Redirects: []probe.Redirect{{
		URL: "https://app.lab.test:8443/health", Status: 302, Location: "http://admin:hunter2@10.0.0.7:8080/admin",
		TotalMS: 83.4, Refused: "host 10.0.0.7 is not allowed",
	}}}
	r.Error = &probe.ErrorInfo{Class: probe.ClassHTTP, Phase: probe.PhaseWait, Cause: "redirect_refused",
		Message: "redirect to http://10.0.0.7:8080/admin refused: host 10.0.0.7 is not allowed"}
	return r
}

func TestProbeRedirectRefused(t *testing.T) {
	t.Run("refused hop", func(t *testing.T) {
		fs := diag(t, refusedRedirect())
		wantIDs(t, fs, IDProbeRedirectRefused) // not HTTP_PROTOCOL_ERROR as well
		f := find(fs, IDProbeRedirectRefused)
		wantEvidence(t, f, map[string]any{
			"from":      "https://app.lab.test:8443/health",
			"location":  "http://10.0.0.7:8080/admin",
			"reason":    "host 10.0.0.7 is not allowed",
			"status":    302,
			"redirects": 1,
		})
		if f == nil {
			return
		}
		if f.Phase != probe.PhaseWait {
			t.Errorf("phase = %q, want wait", f.Phase)
		}
		want := "https://app.lab.test:8443/health redirected to http://10.0.0.7:8080/admin, which the probe may not follow: host 10.0.0.7 is not allowed"
		if f.Summary != want {
			t.Errorf("summary = %q, want %q", f.Summary, want)
		}
		for k, v := range f.Evidence {
			if s, ok := v.(string); ok && strings.Contains(s, "hunter2") {
				t.Errorf("evidence %q leaks the Location's password: %q", k, s)
			}
		}
	})
	t.Run("without the redirect record", func(t *testing.T) {
		r := refusedRedirect()
		r.HTTP.Redirects = []probe.Redirect{}
		fs := diag(t, r)
		wantIDs(t, fs, IDProbeRedirectRefused)
		if f := find(fs, IDProbeRedirectRefused); f != nil && !strings.Contains(f.Summary, r.Error.Message) {
			t.Errorf("summary = %q, want the error message in it", f.Summary)
		}
	})
	t.Run("other redirect errors are not refusals", func(t *testing.T) {
		r := refusedRedirect()
		r.Error.Cause = "too_many_redirects"
		wantIDs(t, diag(t, r), IDHTTPProtocolError)
	})
}

// deniedConnect is a probe of kind whose every address was denied.
func deniedConnect(kind string) *probe.Result {
	r := &probe.Result{
		Schema: probe.Schema, Target: kind + "://internal.example:443", Kind: kind, StartedAt: t0,
		TotalMS: 1.3, TimeoutMS: 10000,
		Phases: []probe.Phase{{Name: "dns", DurationMS: 1.2}},
		DNS:    &probe.DNSInfo{Name: "internal.example", Server: "system", Rcode: "NOERROR", Addrs: []string{"10.0.0.7", "fd00::7"}, Source: "system"},
		Conn: &probe.ConnInfo{Denied: []probe.DeniedAddr{
			{Addr: "10.0.0.7", Network: "10.0.0.0/8"}, {Addr: "fd00::7", Network: "fc00::/7"},
		}},
		Error: &probe.ErrorInfo{Class: probe.ClassConnect, Phase: probe.PhaseConnect, Cause: "address_denied",
			Message: "every address of internal.example is in a denied network: 10.0.0.7 (10.0.0.0/8), fd00::7 (fc00::/7)"},
		Findings: []Finding{},
	}
	switch kind {
	case "grpc":
		r.GRPC = &probe.GRPCInfo{GapsMS: []float64{}}
	case "ws":
		r.WS = &probe.WSInfo{}
	case "https":
		r.HTTP = &probe.HTTPInfo{ContentLength: -1, Redirects: []probe.Redirect{}}
	}
	return r
}

func TestProbeAddressDenied(t *testing.T) {
	for _, kind := range []string{"tcp", "tls", "https", "grpc", "ws", "icmp"} {
		t.Run(kind, func(t *testing.T) {
			fs := diag(t, deniedConnect(kind))
			wantIDs(t, fs, IDProbeAddressDenied) // not TCP_CONNECT_FAILED as well
			f := find(fs, IDProbeAddressDenied)
			wantEvidence(t, f, map[string]any{
				"name":     "internal.example",
				"networks": []string{"10.0.0.0/8", "fc00::/7"},
				"denied":   []map[string]any{{"addr": "10.0.0.7", "network": "10.0.0.0/8"}, {"addr": "fd00::7", "network": "fc00::/7"}},
			})
			if f == nil {
				return
			}
			if f.Phase != probe.PhaseConnect {
				t.Errorf("phase = %q, want connect", f.Phase)
			}
			if want := `the probe may not connect to "internal.example": every address is in a denied network (10.0.0.0/8, fc00::/7)`; f.Summary != want {
				t.Errorf("summary = %q, want %q", f.Summary, want)
			}
		})
	}
	t.Run("after a redirect, capped list", func(t *testing.T) {
		r := deniedConnect("http")
		r.Target = "http://app.lab.test/"
		r.DNS = nil // an IP literal
		r.Conn = &probe.ConnInfo{Denied: []probe.DeniedAddr{{Addr: "::1", Network: "::1/128"}}, DeniedOmitted: 3}
		r.HTTP = &probe.HTTPInfo{ContentLength: -1, Redirects: []probe.Redirect{{URL: "http://app.lab.test/", Status: 302, Location: "http://[::1]:8080/"}}}
		fs := diag(t, r)
		wantIDs(t, fs, IDProbeAddressDenied)
		f := find(fs, IDProbeAddressDenied)
		wantEvidence(t, f, map[string]any{
			"from": "http://app.lab.test/", "location": "http://[::1]:8080/", "redirects": 1, "denied_omitted": 3,
		})
		for _, want := range []string{"may not connect to ::1:", "a redirect from http://app.lab.test/ led there"} {
			if f != nil && !strings.Contains(f.Summary, want) {
				t.Errorf("summary = %q, want it to contain %q", f.Summary, want)
			}
		}
	})
	t.Run("other connect errors are not denials", func(t *testing.T) {
		r := deniedConnect("tcp")
		r.Error.Cause = "unreachable"
		wantIDs(t, diag(t, r), IDTCPConnectFailed)
	})
}
