package wsx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// The library enforces its read limit on the bytes it has read, not on the
// lengths the frame headers announce: it fails a message only once limit+1
// bytes of it have arrived. A server that announces an enormous message and
// sends less (or nothing) leaves the reader waiting for bytes that never
// come, and the session looks healthy. frameGuard reads the server's frame
// headers as they pass and stops the stream at the first one that cannot be
// accepted, before any of its payload reaches the library.

// maxFrameHeader is the longest frame header: 2 bytes, a 64-bit length
// and a masking key.
const maxFrameHeader = 2 + 8 + 4

// errInvalidLength is a 64-bit frame length with the most significant bit
// set, which RFC 6455 forbids.
var errInvalidLength = errors.New("invalid frame length")

// tooBigError is a frame header announcing a message over the read limit.
// It matches websocket.ErrMessageTooBig.
type tooBigError struct {
	announced uint64 // bytes the message's frames announced, this one included
	limit     int64
}

func (e *tooBigError) Error() string {
	return fmt.Sprintf("the server announced a message of at least %d bytes, over the %d-byte limit", e.announced, e.limit)
}

func (e *tooBigError) Unwrap() error { return websocket.ErrMessageTooBig }

// invalidLengthError is a frame whose 64-bit length has its top bit set.
type invalidLengthError struct{ length uint64 }

func (e *invalidLengthError) Error() string {
	return fmt.Sprintf("invalid 64-bit payload length %#x: its most significant bit must be 0 (RFC 6455)", e.length)
}

func (e *invalidLengthError) Unwrap() error { return errInvalidLength }

// frameGuard sits between the upgraded connection and the library and
// parses the frames the server sends. A data frame whose announced length
// takes its message over limit is passed up to the end of its header and
// no further, so the library starts the message and its first payload read
// fails with a tooBigError. A frame with an invalid length never reaches
// the library whole: its header is held back (from its last byte, when it
// came in pieces). Either way nothing more is read from the connection.
//
// Read is called by the library's reader only, one call at a time.
type frameGuard struct {
	rwc   io.ReadWriteCloser
	limit int64

	hdr  [maxFrameHeader]byte
	hn   int    // bytes of the current header seen so far
	left uint64 // payload bytes of the current frame still to pass
	msg  uint64 // bytes announced by the current data message's frames

	mu  sync.Mutex
	err error // why the stream stopped; every Read after it returns it
}

func newFrameGuard(rwc io.ReadWriteCloser, limit int64) *frameGuard {
	return &frameGuard{rwc: rwc, limit: limit}
}

// Read passes the server's bytes on up to the first frame that cannot be
// accepted.
func (g *frameGuard) Read(p []byte) (int, error) {
	if err := g.stopped(); err != nil {
		return 0, err
	}
	n, err := g.rwc.Read(p)
	pass, stop := g.scan(p[:n])
	if stop == nil {
		return n, err
	}
	g.mu.Lock()
	g.err = stop
	g.mu.Unlock()
	if pass > 0 {
		return pass, nil // the error comes with the next Read
	}
	return 0, stop
}

func (g *frameGuard) Write(p []byte) (int, error) { return g.rwc.Write(p) }

func (g *frameGuard) Close() error { return g.rwc.Close() }

// stopped is why the stream stopped, nil while it flows (and for a nil
// guard).
func (g *frameGuard) stopped() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// scan follows the frames through b. It returns how many bytes of b may
// be passed on and, when a frame is refused, why.
func (g *frameGuard) scan(b []byte) (int, error) {
	for i := 0; i < len(b); {
		if g.left > 0 {
			k := min(g.left, uint64(len(b)-i))
			g.left -= k
			i += int(k)
			continue
		}
		g.hdr[g.hn] = b[i]
		g.hn++
		i++
		if g.hn < headerLen(g.hdr[:g.hn]) {
			continue
		}
		start := i - g.hn // before b when the header began in an earlier Read
		h := g.hdr[:g.hn]
		g.hn = 0
		n, err := g.frame(h)
		var tb *tooBigError
		switch {
		case errors.As(err, &tb):
			return i, err
		case err != nil:
			return max(start, 0), err
		}
		g.left = n
	}
	return len(b), nil
}

// headerLen is the length of the frame header that starts with h, as far
// as h tells (2 until the length byte is known).
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4 // masking key: servers must not mask, but it is part of the header
	}
	return n
}

// frame checks one complete header and returns its payload length.
func (g *frameGuard) frame(h []byte) (uint64, error) {
	var n uint64
	switch l := h[1] & 0x7f; l {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
	case 127:
		n = binary.BigEndian.Uint64(h[2:])
		if n>>63 != 0 {
			return 0, &invalidLengthError{length: n}
		}
	default:
		n = uint64(l)
	}
	switch h[0] & 0x0f {
	case 0x1, 0x2: // text, binary: a new message
		g.msg = n
	case 0x0: // continuation
		g.msg += n // both below 2^63: no overflow
	default: // control frames (at most 125 bytes) and unknown opcodes are the library's to check
		return n, nil
	}
	if g.msg > uint64(g.limit) {
		return 0, &tooBigError{announced: g.msg, limit: g.limit}
	}
	return n, nil
}

// guardTransport puts a frameGuard on the connection of a 101 response,
// which net/http hands over as the response body.
type guardTransport struct {
	rt    http.RoundTripper
	limit int64
	guard *frameGuard
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
		t.guard = newFrameGuard(rwc, t.limit)
		resp.Body = t.guard
	}
	return resp, nil
}
