package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe/h2tap"
	"golang.org/x/net/http2"
)

// h2Download is the size of one download in BenchmarkH2Tap.
const h2Download = 100 << 20

// BenchmarkH2Tap measures the frame tap's cost on a 100 MB HTTP/2 download
// over loopback, the way probe/httpx uses it: a connection pathlens dialed
// (TLS with ALPN h2, or cleartext h2c) handed to an x/net/http2 ClientConn,
// with and without h2tap.Wrap in between. Each op dials, downloads 100 MB
// and reads it to the end; base = no tap, pathlens = tapped, interleaved
// in the same run (wall-ratio, cpu-ratio = tapped / untapped; CPU counts
// the in-process server too). Run with a count of ops, e.g.
// go test -run '^$' -bench H2Tap -benchtime 20x ./bench/ — a 100 MB op is
// long, so the interleave helper's blocks of 64 hold b.N ops of each side.
func BenchmarkH2Tap(b *testing.B) {
	chunk := []byte(strings.Repeat("pathlens h2tap benchmark payload.", 1<<15))[:1<<20]
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(h2Download))
		for sent := 0; sent < h2Download; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	for _, mode := range []string{"tls", "h2c"} {
		b.Run(mode, func(b *testing.B) {
			srv := httptest.NewUnstartedServer(h)
			if mode == "tls" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				var p http.Protocols
				p.SetUnencryptedHTTP2(true)
				srv.Config.Protocols = &p
				srv.Start()
			}
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			var roots = srv.Client().Transport.(*http.Transport).TLSClientConfig
			download := func(tap bool) func() error {
				return func() error {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						return err
					}
					if mode == "tls" {
						tc := tls.Client(c, &tls.Config{RootCAs: roots.RootCAs, ServerName: "example.com", NextProtos: []string{"h2"}})
						if err := tc.HandshakeContext(context.Background()); err != nil {
							c.Close()
							return err
						}
						c = tc
					}
					var tapped *h2tap.Conn
					if tap {
						tapped = h2tap.Wrap(c, time.Now(), h2tap.Options{})
						c = tapped
					}
					// The tap measured the way probe/httpx uses it: under
					// net/http's ClientConn, HTTP/2 by prior knowledge over
					// the connection already dialed (and TLS-handshaken).
					var protos http.Protocols
					protos.SetUnencryptedHTTP2(true)
					conn := c
					tr := &http.Transport{Protocols: &protos, DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
					cc, err := tr.NewClientConn(context.Background(), "http", addr)
					if err != nil {
						c.Close()
						return err
					}
					defer cc.Close()
					req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
					resp, err := cc.RoundTrip(req)
					if err != nil {
						return err
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || n != h2Download {
						return fmt.Errorf("read %d of %d bytes: %v", n, h2Download, err)
					}
					if tapped != nil {
						in := tapped.Info()
						if in.ParseError != "" || len(in.Streams) != 1 || in.Streams[0].RecvBytes != h2Download {
							return fmt.Errorf("tap: %q, streams %+v", in.ParseError, in.Streams)
						}
					}
					return nil
				}
			}
			b.SetBytes(h2Download)
			interleave(b, download(false), download(true))
		})
	}
}

// memConn is a net.Conn whose reads replay a fixed HTTP/2 byte stream
// and whose writes are discarded.
type memConn struct {
	net.Conn
	data []byte
	off  int
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.off == len(m.data) {
		m.off = 0
	}
	n := copy(p, m.data[m.off:])
	m.off += n
	return n, nil
}

// BenchmarkH2TapParse isolates the tap's own cost: reading 100 MB of
// server frames (SETTINGS, HEADERS, then 16 KiB DATA frames, the shape of
// a download) in 16 KiB reads from memory, with and without the tap — no
// network, no TLS, no HTTP/2 client, so the ratio is the parse alone.
func BenchmarkH2TapParse(b *testing.B) {
	var wire strings.Builder
	fr := http2.NewFramer(&wire, nil)
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}, EndHeaders: true})
	payload := make([]byte, 16384)
	for range 64 { // 1 MiB of DATA
		_ = fr.WriteData(1, false, payload)
	}
	stream := []byte(wire.String())
	read := func(tap bool) func() error {
		return func() error {
			var c net.Conn = &memConn{data: stream}
			if tap {
				c = h2tap.Wrap(c, time.Now(), h2tap.Options{})
			}
			buf := make([]byte, 16384)
			for n := 0; n < h2Download; {
				m, err := c.Read(buf)
				if err != nil {
					return err
				}
				n += m
			}
			return nil
		}
	}
	b.SetBytes(h2Download)
	interleave(b, read(false), read(true))
}
