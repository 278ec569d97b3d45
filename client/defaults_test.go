package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/probe"
)

func base(t *testing.T, c *http.Client) *http.Transport {
	t.Helper()
	tr, ok := c.Transport.(*client.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want *client.Transport", c.Transport)
	}
	return tr.Base()
}

// TestDefaults: every default New applies, one row each.
func TestDefaults(t *testing.T) {
	c := client.New()
	defer c.CloseIdleConnections()
	b := base(t, c)
	cases := []struct {
		name      string
		got, want any
	}{
		{"Client.Timeout (the deadline lives in the transport)", c.Timeout, time.Duration(0)},
		{"TLSHandshakeTimeout", b.TLSHandshakeTimeout, client.DefaultTLSHandshakeTimeout},
		{"ResponseHeaderTimeout", b.ResponseHeaderTimeout, client.DefaultResponseHeaderTimeout},
		{"ExpectContinueTimeout", b.ExpectContinueTimeout, client.DefaultExpectContinueTimeout},
		{"IdleConnTimeout", b.IdleConnTimeout, client.DefaultIdleConnTimeout},
		{"MaxIdleConns", b.MaxIdleConns, client.DefaultMaxIdleConns},
		{"MaxIdleConnsPerHost", b.MaxIdleConnsPerHost, client.DefaultMaxIdleConnsPerHost},
		{"MaxConnsPerHost", b.MaxConnsPerHost, 0},
		{"MaxResponseHeaderBytes", b.MaxResponseHeaderBytes, int64(client.DefaultMaxResponseHeaderBytes)},
		{"DisableKeepAlives", b.DisableKeepAlives, false},
		{"Proxy is nil", b.Proxy == nil, true},
		{"DialContext set", b.DialContext != nil, true},
		{"ForceAttemptHTTP2", b.ForceAttemptHTTP2, true},
		{"Protocols HTTP1", b.Protocols != nil && b.Protocols.HTTP1(), true},
		{"Protocols HTTP2", b.Protocols != nil && b.Protocols.HTTP2(), true},
		{"HTTP2.SendPingTimeout (ReadIdleTimeout)", b.HTTP2.SendPingTimeout, client.DefaultH2ReadIdleTimeout},
		{"HTTP2.PingTimeout", b.HTTP2.PingTimeout, client.DefaultH2PingTimeout},
		{"HTTP2.WriteByteTimeout", b.HTTP2.WriteByteTimeout, client.DefaultH2WriteByteTimeout},
		{"TLS MinVersion", b.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12)},
		{"TLS RootCAs is the shared system pool", b.TLSClientConfig.RootCAs == client.SystemRoots(), true},
		{"TLS session cache", b.TLSClientConfig.ClientSessionCache != nil, true},
		{"TLS InsecureSkipVerify", b.TLSClientConfig.InsecureSkipVerify, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestSystemRootsShared: the system pool is loaded once and every
// client (also one with a custom TLS config) shares it.
func TestSystemRootsShared(t *testing.T) {
	a, b2 := client.New(), client.New(client.WithTLS(&tls.Config{ServerName: "x"}))
	defer a.CloseIdleConnections()
	defer b2.CloseIdleConnections()
	ra, rb := base(t, a).TLSClientConfig.RootCAs, base(t, b2).TLSClientConfig.RootCAs
	if ra != rb || ra != client.SystemRoots() {
		t.Fatalf("root pools differ: %p %p %p", ra, rb, client.SystemRoots())
	}
}

// TestOptions: each option changes what it says and nothing else.
func TestOptions(t *testing.T) {
	proxyURL, _ := url.Parse("http://proxy.invalid:3128")
	cases := []struct {
		name  string
		opt   client.Option
		check func(t *testing.T, c *http.Client, b *http.Transport)
	}{
		{"WithTimeouts sets given fields", client.WithTimeouts(client.Timeouts{TLSHandshake: 2 * time.Second, ResponseHeader: 3 * time.Second, IdleConn: 4 * time.Second, ExpectContinue: 5 * time.Second}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.TLSHandshakeTimeout != 2*time.Second || b.ResponseHeaderTimeout != 3*time.Second || b.IdleConnTimeout != 4*time.Second || b.ExpectContinueTimeout != 5*time.Second {
					t.Errorf("timeouts: %v %v %v %v", b.TLSHandshakeTimeout, b.ResponseHeaderTimeout, b.IdleConnTimeout, b.ExpectContinueTimeout)
				}
			}},
		{"WithTimeouts zero keeps defaults", client.WithTimeouts(client.Timeouts{Dial: time.Second}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.TLSHandshakeTimeout != client.DefaultTLSHandshakeTimeout || b.ResponseHeaderTimeout != client.DefaultResponseHeaderTimeout {
					t.Errorf("defaults lost: %v %v", b.TLSHandshakeTimeout, b.ResponseHeaderTimeout)
				}
			}},
		{"WithTimeouts negative removes the bound", client.WithTimeouts(client.Timeouts{ResponseHeader: -1}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.ResponseHeaderTimeout != 0 {
					t.Errorf("ResponseHeaderTimeout = %v, want 0", b.ResponseHeaderTimeout)
				}
			}},
		{"WithPool", client.WithPool(client.Pool{MaxIdleConns: 10, MaxIdleConnsPerHost: 5, MaxConnsPerHost: 7, MaxResponseHeaderBytes: 4096}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.MaxIdleConns != 10 || b.MaxIdleConnsPerHost != 5 || b.MaxConnsPerHost != 7 || b.MaxResponseHeaderBytes != 4096 {
					t.Errorf("pool: %d %d %d %d", b.MaxIdleConns, b.MaxIdleConnsPerHost, b.MaxConnsPerHost, b.MaxResponseHeaderBytes)
				}
			}},
		{"WithPool zero keeps defaults", client.WithPool(client.Pool{MaxConnsPerHost: 3}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.MaxIdleConnsPerHost != client.DefaultMaxIdleConnsPerHost || b.MaxConnsPerHost != 3 {
					t.Errorf("pool: %d %d", b.MaxIdleConnsPerHost, b.MaxConnsPerHost)
				}
			}},
		{"WithTLS keeps HTTP/2 and fills defaults", client.WithTLS(&tls.Config{ServerName: "example.com"}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				cfg := b.TLSClientConfig
				if cfg.ServerName != "example.com" || cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs != client.SystemRoots() || !b.Protocols.HTTP2() {
					t.Errorf("tls: %+v h2=%v", cfg, b.Protocols.HTTP2())
				}
			}},
		{"WithTLS keeps a stricter MinVersion", client.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.TLSClientConfig.MinVersion != tls.VersionTLS13 {
					t.Errorf("MinVersion %x", b.TLSClientConfig.MinVersion)
				}
			}},
		{"WithHTTP2 timeouts", client.WithHTTP2(client.HTTP2{ReadIdleTimeout: time.Second, PingTimeout: 2 * time.Second}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.HTTP2.SendPingTimeout != time.Second || b.HTTP2.PingTimeout != 2*time.Second || b.HTTP2.WriteByteTimeout != client.DefaultH2WriteByteTimeout {
					t.Errorf("h2: %+v", b.HTTP2)
				}
			}},
		{"WithHTTP2 Disable", client.WithHTTP2(client.HTTP2{Disable: true}),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				if b.Protocols.HTTP2() || b.TLSNextProto == nil {
					t.Errorf("h2 still on")
				}
			}},
		{"WithProxy", client.WithProxy(http.ProxyURL(proxyURL)),
			func(t *testing.T, _ *http.Client, b *http.Transport) {
				req, _ := http.NewRequest("GET", "http://example.com/", nil)
				if u, err := b.Proxy(req); err != nil || u.String() != proxyURL.String() {
					t.Errorf("proxy %v %v", u, err)
				}
			}},
		{"nil option is ignored", nil, func(t *testing.T, _ *http.Client, b *http.Transport) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(tc.opt)
			defer c.CloseIdleConnections()
			tc.check(t, c, base(t, c))
		})
	}
}

// TestHTTP2WithCustomTLS: HTTP/2 is negotiated with a custom TLS config
// (which turns it off on a plain http.Transport), and off when asked.
func TestHTTP2WithCustomTLS(t *testing.T) {
	srv, pool := h2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	cases := []struct {
		name  string
		c     *http.Client
		proto string
	}{
		{"client.New + WithTLS", client.New(client.WithTLS(tlsTo(pool))), "HTTP/2.0"},
		{"client.New + WithTLS + HTTP2 disabled", client.New(client.WithTLS(tlsTo(pool)), client.WithHTTP2(client.HTTP2{Disable: true})), "HTTP/1.1"},
		{"plain http.Transport + TLSClientConfig (net/http turns h2 off)", &http.Client{Transport: &http.Transport{TLSClientConfig: tlsTo(pool)}}, "HTTP/1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.c.CloseIdleConnections()
			resp, err := tc.c.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != tc.proto || string(body) != tc.proto {
				t.Fatalf("proto %s (server saw %s), want %s", resp.Proto, body, tc.proto)
			}
		})
	}
}

// TestRequestDeadline: without a context deadline the default (here
// shortened) bounds the request; a context deadline wins either way.
func TestRequestDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := okServerSlow(t, 300*time.Millisecond, release)
	cases := []struct {
		name    string
		request time.Duration
		ctxTO   time.Duration // 0: no context deadline
		wantErr bool
	}{
		{"default bound applies without a context deadline", 100 * time.Millisecond, 0, true},
		{"a longer context deadline wins over the default", 100 * time.Millisecond, 5 * time.Second, false},
		{"a shorter context deadline wins over the default", 5 * time.Second, 100 * time.Millisecond, true},
		{"negative Request leaves only the context", -1, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var col collector
			c := client.New(client.WithTimeouts(client.Timeouts{Request: tc.request}), client.WithObserver(col.observe))
			defer c.CloseIdleConnections()
			ctx := context.Background()
			if tc.ctxTO > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			start := time.Now()
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v (after %v)", err, tc.wantErr, time.Since(start))
			}
			if tc.wantErr {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want a deadline", err)
				}
				r := col.last(t)
				if r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != probe.PhaseWait {
					t.Errorf("Result error %+v, want timeout in wait", r.Error)
				}
			}
		})
	}
	close(release)
}

// TestResponseHeaderTimeout: the header bound fires before the overall one.
func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := okServerSlow(t, 2*time.Second, release)
	defer close(release)
	c := client.New(client.WithTimeouts(client.Timeouts{ResponseHeader: 50 * time.Millisecond}))
	defer c.CloseIdleConnections()
	start := time.Now()
	_, err := c.Get(srv.URL)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v, want a response-header timeout", err, time.Since(start))
	}
}
