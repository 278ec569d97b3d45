package engine_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// A TLS 1.3 server that requires a client certificate rejects a client
// without one only after the client's side of the handshake is done: its
// certificate_required alert is the first record the client reads. Every
// kind that speaks TLS must report that as the tls phase's failure
// (TLS_HANDSHAKE_FAILED, pass --cert/--key), whatever read met it: the
// HTTP/1 response, the HTTP/2 preface (https, grpcs), the WebSocket
// upgrade, or tls://'s read after the handshake, which would otherwise
// have called the probe a success. With the certificate the probe works.
func TestClientCertRequiredAfterTLS13Handshake(t *testing.T) {
	l := probetest.StartLab(t, "tls13-client-cert-required", "tls12-client-cert-required")
	hostPort := func(name string) string {
		u, err := url.Parse(probetest.LabScenario(t, l, name).Target)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host
	}
	tls13, tls12 := hostPort("tls13-client-cert-required"), hostPort("tls12-client-cert-required")
	cert, err := l.ClientCert()
	if err != nil {
		t.Fatal(err)
	}
	opts := func(mod func(*probe.Options)) *probe.Options {
		o := &probe.Options{RootCAs: l.CAPool(), DNSServer: l.DNSServer(), Timeout: 5 * time.Second}
		if mod != nil {
			mod(o)
		}
		return o
	}
	h1 := func(o *probe.Options) { o.HTTP1Only = true }
	withCert := func(o *probe.Options) { o.ClientCert = &cert }
	for _, tc := range []struct {
		name, target string
		mod          func(*probe.Options)
		late         bool // the alert came after the client's handshake
	}{
		{"https h2", "https://" + tls13 + "/", nil, true},
		{"https http/1.1", "https://" + tls13 + "/", h1, true},
		{"tls", "tls://" + tls13, nil, true},
		{"grpcs", "grpcs://" + tls13, nil, true},
		{"wss", "wss://" + tls13 + "/", nil, true},
		{"https tls 1.2", "https://" + tls12 + "/", nil, false},
		{"tls tls 1.2", "tls://" + tls12, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := probe.ParseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			r := engine.Check(context.Background(), tg, opts(tc.mod))
			if got := probetest.FindingIDs(r); !slices.Equal(got, []string{"TLS_HANDSHAKE_FAILED"}) {
				t.Fatalf("findings %v, want [TLS_HANDSHAKE_FAILED]; error %s", got, probetest.ErrString(r))
			}
			probetest.WantError(t, r, probe.ClassTLS, probe.CauseAlert, probe.PhaseTLS)
			alert := "certificate required"
			if !tc.late {
				alert = "handshake failure"
			}
			if x := r.TLS; !strings.Contains(x.Alert, alert) || x.AlertAfterHandshake != tc.late || !x.ClientCertRequested || x.ClientCertSent {
				t.Errorf("tls alert %q after handshake %v, client cert requested %v sent %v; want %q, %v, requested, none sent",
					x.Alert, x.AlertAfterHandshake, x.ClientCertRequested, x.ClientCertSent, alert, tc.late)
			}
			f := probetest.Finding(r, "TLS_HANDSHAKE_FAILED")
			if f.Phase != probe.PhaseTLS || !strings.Contains(f.Summary, "requires a client certificate and pathlens sent none") ||
				!strings.Contains(f.Advice, "--cert FILE --key FILE") || f.Evidence["client_cert_requested"] != true {
				t.Errorf("finding %+v, want the missing client certificate and --cert/--key", f)
			}
			if late, _ := f.Evidence["after_handshake"].(bool); late != tc.late {
				t.Errorf("evidence after_handshake = %v, want %v", f.Evidence["after_handshake"], tc.late)
			}
			if x := r.TLS.Resumption; x != nil && x.Tested {
				t.Errorf("resumption tested after a failed handshake: %+v", x)
			}

			// With the lab's client certificate the same probe succeeds.
			if strings.HasPrefix(tc.target, "grpcs:") || strings.HasPrefix(tc.target, "wss:") {
				return // the server speaks neither gRPC nor WebSocket
			}
			ok := engine.Check(context.Background(), tg, opts(func(o *probe.Options) {
				if tc.mod != nil {
					tc.mod(o)
				}
				withCert(o)
			}))
			probetest.MustSucceed(t, ok)
			if x := ok.TLS; !x.ClientCertRequested || !x.ClientCertSent || x.Alert != "" || len(ok.Findings) > 0 {
				t.Errorf("with --cert: tls %+v findings %v; want the certificate requested and sent, nothing found", x, probetest.FindingIDs(ok))
			}
		})
	}
}
