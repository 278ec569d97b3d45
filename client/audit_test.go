package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
)

// goodTransport is a hand-made transport Audit has nothing against.
func goodTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 32
	return t
}

type wrapper struct{ rt http.RoundTripper }

func (w wrapper) RoundTrip(r *http.Request) (*http.Response, error) { return w.rt.RoundTrip(r) }
func (w wrapper) Unwrap() http.RoundTripper                         { return w.rt }

type opaque struct{}

func (opaque) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

func TestAudit(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	with := func(f func(*http.Transport)) *http.Transport {
		tr := goodTransport()
		f(tr)
		return tr
	}
	dialer := &net.Dialer{Timeout: time.Second}
	cases := []struct {
		name string
		c    *http.Client
		env  map[string]string
		want []string // IDs, worst first
		sev  map[string]probe.Severity
	}{
		{"http.DefaultClient", nil, nil,
			[]string{client.IDNoTimeout, client.IDNoResponseHeaderTimeout, client.IDSmallIdlePool, client.IDProxyFromEnvironment},
			map[string]probe.Severity{client.IDProxyFromEnvironment: probe.SeverityInfo}},
		{"client.New()", client.New(), nil, []string{}, nil},
		{"client.New() behind a wrapper with Unwrap", &http.Client{Transport: wrapper{client.New().Transport}}, nil, []string{}, nil},
		{"client.New with every bound removed",
			client.New(client.WithTimeouts(client.Timeouts{Dial: -1, TLSHandshake: -1, ResponseHeader: -1, IdleConn: -1, Request: -1})), nil,
			[]string{client.IDNoTimeout, client.IDNoDialTimeout, client.IDNoTLSHandshakeTimeout, client.IDNoResponseHeaderTimeout, client.IDNoIdleConnTimeout}, nil},
		{"zero http.Transport with a client timeout", &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}, nil,
			[]string{client.IDNoDialTimeout, client.IDNoTLSHandshakeTimeout, client.IDNoResponseHeaderTimeout, client.IDNoIdleConnTimeout, client.IDSmallIdlePool}, nil},
		{"tuned clone of DefaultTransport", &http.Client{Timeout: time.Minute, Transport: goodTransport()}, nil, []string{}, nil},
		{"custom TLSClientConfig turns HTTP/2 off", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.ForceAttemptHTTP2 = false
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		})}, nil, []string{client.IDH2Disabled}, map[string]probe.Severity{client.IDH2Disabled: probe.SeverityWarning}},
		{"HTTP/2 off on purpose (TLSNextProto)", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		})}, nil, []string{client.IDH2Disabled}, map[string]probe.Severity{client.IDH2Disabled: probe.SeverityInfo}},
		{"HTTP/2 off on purpose (Protocols)", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.Protocols = new(http.Protocols)
			t.Protocols.SetHTTP1(true)
		})}, nil, []string{client.IDH2Disabled}, map[string]probe.Severity{client.IDH2Disabled: probe.SeverityInfo}},
		{"InsecureSkipVerify", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		})}, nil, []string{client.IDInsecureSkipVerify}, map[string]probe.Severity{client.IDInsecureSkipVerify: probe.SeverityCritical}},
		{"InsecureSkipVerify with a custom verifier", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error { return nil }}
		})}, nil, []string{client.IDInsecureSkipVerify}, map[string]probe.Severity{client.IDInsecureSkipVerify: probe.SeverityWarning}},
		{"keep-alives disabled", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) {
			t.DisableKeepAlives = true
			t.MaxIdleConnsPerHost = 0
			t.IdleConnTimeout = 0
		})}, nil, []string{client.IDKeepAlivesDisabled}, nil},
		{"MaxIdleConnsPerHost 2", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) { t.MaxIdleConnsPerHost = 2 })}, nil,
			[]string{client.IDSmallIdlePool}, nil},
		{"custom DialContext (and HTTP/2 silently off)", &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			DialContext:         func(ctx context.Context, n, a string) (net.Conn, error) { return dialer.DialContext(ctx, n, a) },
			TLSHandshakeTimeout: time.Second, ResponseHeaderTimeout: time.Second, IdleConnTimeout: time.Minute, MaxIdleConnsPerHost: 16,
		}}, nil, []string{client.IDH2Disabled, client.IDDialTimeoutUnknown}, nil},
		{"custom DialTLSContext hides the handshake", &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			DialTLSContext:        func(ctx context.Context, n, a string) (net.Conn, error) { return nil, nil },
			ForceAttemptHTTP2:     true,
			ResponseHeaderTimeout: time.Second, IdleConnTimeout: time.Minute, MaxIdleConnsPerHost: 16,
		}}, nil, []string{client.IDDialTimeoutUnknown}, nil},
		{"proxy from a set environment", &http.Client{Timeout: time.Minute, Transport: with(func(t *http.Transport) { t.Proxy = http.ProxyFromEnvironment })},
			map[string]string{"HTTPS_PROXY": "http://user:secret@proxy.invalid:3128"},
			[]string{client.IDProxyFromEnvironment}, map[string]probe.Severity{client.IDProxyFromEnvironment: probe.SeverityWarning}},
		{"opaque RoundTripper", &http.Client{Transport: opaque{}}, nil, []string{client.IDNoTimeout, client.IDTransportUnknown}, nil},
	}
	if len(cases) < 12 {
		t.Fatalf("only %d clients", len(cases))
	}
	cat := map[string]client.Entry{}
	for _, e := range client.Catalogue() {
		cat[e.ID] = e
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.c != nil {
				defer tc.c.CloseIdleConnections()
			}
			fs := client.Audit(tc.c)
			if fs == nil {
				t.Fatal("Audit returned nil")
			}
			got := []string{}
			for _, f := range fs {
				got = append(got, f.ID)
				e, ok := cat[f.ID]
				if !ok {
					t.Errorf("%s not in Catalogue()", f.ID)
				}
				if !slices.Contains(strings.Split(e.Severity, "/"), string(f.Severity)) || e.Source != "audit" {
					t.Errorf("%s severity %s, catalogue says %s (%s)", f.ID, f.Severity, e.Severity, e.Source)
				}
				if f.Summary == "" || f.Advice == "" || len(f.Evidence) == 0 {
					t.Errorf("%s lacks summary, advice or evidence: %+v", f.ID, f)
				}
				if want, ok := tc.sev[f.ID]; ok && f.Severity != want {
					t.Errorf("%s severity %s, want %s", f.ID, f.Severity, want)
				}
				if strings.Contains(f.Summary+f.Advice+strings.Join(stringValues(f.Evidence), " "), "secret") {
					t.Errorf("%s leaks a proxy password", f.ID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			for i := 1; i < len(fs); i++ {
				if fs[i].Severity.Rank() > fs[i-1].Severity.Rank() {
					t.Errorf("not worst first: %v", got)
				}
			}
		})
	}
}

func stringValues(m map[string]any) []string {
	var out []string
	for _, v := range m {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]string:
			for _, s := range x {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestAuditIsPure: auditing does not change the client (a later request
// still negotiates what it would have).
func TestAuditIsPure(t *testing.T) {
	tr := goodTransport()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	before := *tr.Clone()
	client.Audit(c)
	after := tr.Clone()
	if before.MaxIdleConnsPerHost != after.MaxIdleConnsPerHost || (before.TLSNextProto == nil) != (after.TLSNextProto == nil) || c.Timeout != time.Minute {
		t.Fatal("Audit changed the client")
	}
	var _ []diagnose.Finding = client.Audit(c)
}
