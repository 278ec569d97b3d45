package lab

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// What the HTTP/2 scenarios do.
const (
	// H2UploadFile is the request body h2-upload-stall's args send
	// (--data @DIR/H2UploadFile), H2UploadSize bytes long.
	H2UploadFile = "h2-upload-stall.bin"
	H2UploadSize = 1 << 20
	// h2UploadWindow is the server's stream receive window (the RFC 9113
	// default, announced in its SETTINGS); the body is read in bursts of
	// h2UploadBurst with h2UploadPause before each, so the client's send
	// window runs dry and waits h2UploadPause each time.
	h2UploadWindow = 65535
	h2UploadBurst  = 256 << 10
	h2UploadPause  = 250 * time.Millisecond

	// h2-rst: the response announces h2RSTLength bytes, sends h2RSTFrames
	// DATA frames of h2RSTFrameSize, then RST_STREAM INTERNAL_ERROR.
	h2RSTLength    = 1 << 20
	h2RSTFrames    = 3
	h2RSTFrameSize = 16 << 10

	// h2-goaway: GOAWAY (NO_ERROR) between the response headers and body.
	h2GoAwayDebug = "lab: draining for restart"
)

// startH2UploadStall serves HTTPS (ALPN h2) whose handler reads the
// request body slowly through a 64 KiB stream window, and writes the body
// file the scenario's args send.
func (l *Lab) startH2UploadStall(name string) (string, error) {
	body := bytes.Repeat([]byte("pathlens h2-upload-stall body\n"), H2UploadSize/30+1)[:H2UploadSize]
	if err := os.WriteFile(filepath.Join(l.dir, H2UploadFile), body, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", H2UploadFile, err)
	}
	cert, err := l.pki.serverCert(chainNormal, labLeaf(name))
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveHTTP(ln, http.HandlerFunc(l.slowBodyReader), httpOpts{tls: cfg, h2: true,
		h2conf: &http.HTTP2Config{MaxReceiveBufferPerStream: h2UploadWindow}})
	return hostPortURL("https", name+".lab.test", ln, true), nil
}

// slowBodyReader reads the request body in h2UploadBurst bursts, pausing
// h2UploadPause before each, then answers 200 with the byte count.
func (l *Lab) slowBodyReader(w http.ResponseWriter, r *http.Request) {
	var n int64
	for r.ContentLength < 0 || n < r.ContentLength {
		if !l.sleepCtx(r.Context().Done(), h2UploadPause) {
			return
		}
		m, err := io.CopyN(io.Discard, r.Body, h2UploadBurst)
		n += m
		if err != nil {
			break
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprintf(w, "received %d bytes\n", n)
}

// h2Respond answers one request (stream) on a raw HTTP/2 connection.
type h2Respond func(w *h2Conn, stream uint32) error

// startH2Raw serves HTTPS (ALPN h2 only) with a hand-written HTTP/2
// server whose answer to each request is respond: frames net/http would
// never send in that order.
func (l *Lab) startH2Raw(name string, respond h2Respond) (string, error) {
	cert, err := l.pki.serverCert(chainNormal, labLeaf(name))
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	ln, err := l.listen()
	if err != nil {
		return "", err
	}
	l.serveRaw(ln, func(c *rawConn) {
		tc := tls.Server(c.Conn, cfg)
		if tc.Handshake() != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
			return
		}
		serveH2Raw(&h2Conn{raw: c, tc: tc}, respond)
	})
	return hostPortURL("https", name+".lab.test", ln, true), nil
}

// h2Conn is a raw server-side HTTP/2 connection.
type h2Conn struct {
	raw *rawConn
	tc  *tls.Conn
	fr  *http2.Framer
	buf bytes.Buffer
	enc *hpack.Encoder
}

// Write bounds every write like rawConn.write.
func (c *h2Conn) Write(p []byte) (int, error) {
	select {
	case <-c.raw.done:
		return 0, errClosing
	default:
	}
	dl := time.Now().Add(writeStallTimeout)
	if dl.After(c.raw.end) {
		dl = c.raw.end
	}
	if err := c.tc.SetWriteDeadline(dl); err != nil {
		return 0, err
	}
	return c.tc.Write(p)
}

// headers sends a HEADERS frame with the fields given as name, value pairs.
func (c *h2Conn) headers(stream uint32, endStream bool, kv ...string) error {
	c.buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := c.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			return err
		}
	}
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: c.buf.Bytes(),
		EndStream: endStream, EndHeaders: true})
}

// serveH2Raw runs the server side of one connection: preface, SETTINGS
// and their ACKs, PING ACKs, and respond for every request whose headers
// are complete. It returns when the client closes or sends GOAWAY.
func serveH2Raw(c *h2Conn, respond h2Respond) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.tc, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	c.fr = http2.NewFramer(c, c.tc)
	c.enc = hpack.NewEncoder(&c.buf)
	if c.fr.WriteSettings() != nil {
		return
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && c.fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.PingFrame:
			if !f.IsAck() && c.fr.WritePing(true, f.Data) != nil {
				return
			}
		case *http2.HeadersFrame:
			if f.HeadersEnded() && respond(c, f.StreamID) != nil {
				return
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

// rstMidResponse is h2-rst: 200 with Content-Length h2RSTLength, a few
// DATA frames, then RST_STREAM INTERNAL_ERROR (what net/http does when a
// handler panics mid-response, and proxies do when the upstream fails).
func rstMidResponse(c *h2Conn, stream uint32) error {
	if err := c.headers(stream, false, ":status", "200", "content-type", "application/octet-stream",
		"content-length", strconv.Itoa(h2RSTLength)); err != nil {
		return err
	}
	chunk := make([]byte, h2RSTFrameSize)
	for range h2RSTFrames {
		if err := c.fr.WriteData(stream, false, chunk); err != nil {
			return err
		}
	}
	return c.fr.WriteRSTStream(stream, http2.ErrCodeInternal)
}

// goAwayMidResponse is h2-goaway: the response headers, then GOAWAY
// (NO_ERROR, last stream = this one, debug data), then the body: the
// request completes but the connection takes no new ones.
func goAwayMidResponse(c *h2Conn, stream uint32) error {
	if err := c.headers(stream, false, ":status", "200", "content-type", "text/plain", "content-length", "3"); err != nil {
		return err
	}
	if err := c.fr.WriteGoAway(stream, http2.ErrCodeNo, []byte(h2GoAwayDebug)); err != nil {
		return err
	}
	return c.fr.WriteData(stream, true, []byte("ok\n"))
}
