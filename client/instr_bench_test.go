package client

import (
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// fakeConn is enough of a net.Conn for GotConnInfo.
type fakeConn struct{ net.Conn }

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}

func (fakeConn) RemoteAddr() net.Addr { return fakeAddr }
func (fakeConn) LocalAddr() net.Addr  { return fakeAddr }

// cannedRT answers at once, firing the hooks a reused connection fires,
// on a connection the client dialed (a trackedConn, as in real use).
type cannedRT struct{}

var cannedConn = newTrackedConn(fakeConn{}, nil)

func (cannedRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil {
		if tr.GotConn != nil {
			tr.GotConn(httptrace.GotConnInfo{Conn: cannedConn, Reused: true, WasIdle: true})
		}
		if tr.WroteRequest != nil {
			tr.WroteRequest(httptrace.WroteRequestInfo{})
		}
		if tr.GotFirstResponseByte != nil {
			tr.GotFirstResponseByte()
		}
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Length": {"3"}, "Content-Type": {"text/plain"}}, ContentLength: 3,
		Body: io.NopCloser(strings.NewReader("ok\n")), Request: req}, nil
}

// BenchmarkInstrumentation: the client's own cost per request, without
// any network: a canned round tripper under each configuration.
func BenchmarkInstrumentation(b *testing.B) {
	cases := []struct {
		name string
		opts []Option
	}{
		{"bare-transport", nil},
		{"defaults", nil},
		{"observer", []Option{WithObserver(func(probe.Result) {})}},
		{"metrics", []Option{WithMetrics(prometheus.NewRegistry())}},
		{"observer+metrics", []Option{WithObserver(func(probe.Result) {}), WithMetrics(prometheus.NewRegistry())}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := New(tc.opts...)
			c.Transport.(*Transport).Base().RegisterProtocol("canned", cannedRT{})
			var rt http.RoundTripper = c.Transport
			if tc.name == "bare-transport" {
				rt = c.Transport.(*Transport).Base()
			}
			req, _ := http.NewRequest("GET", "canned://example.com/x", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
