package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

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
