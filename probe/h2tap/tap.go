// Package h2tap is a passive HTTP/2 frame tap. Wrap puts it beneath an
// HTTP/2 client connection (after TLS, or on the plain TCP connection for
// h2c): every byte read and written passes through unchanged, and a copy
// is parsed frame by frame in both directions into a bounded timeline,
// per-stream summaries and flow-control accounting (flow.go).
//
// The tap never blocks or slows the data path beyond the parse itself: it
// runs synchronously inside Read and Write on the bytes just moved, starts
// no goroutine, never buffers a DATA payload (only its 9-byte header is
// needed), and keeps at most 64 KiB of any other frame. A frame longer than
// the receiver allows stops the parse of that direction (counted in
// ParseErrors); the bytes still flow.
package h2tap

import (
	"net"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// DefaultMaxFrames is how many frames Info keeps when Options.MaxFrames is 0.
const DefaultMaxFrames = 2000

// Limits that bound the tap's memory whatever the peer sends.
const (
	// maxBuffered is the largest non-DATA payload parsed; longer frames are
	// recorded by header only.
	maxBuffered = 64 << 10
	// maxHeaderBlock is the largest header block decoded for :status.
	maxHeaderBlock = 256 << 10
	// extraNotable frames (SETTINGS, RST_STREAM, GOAWAY) are still kept
	// past MaxFrames, up to this many.
	extraNotable = 100
	// maxDebug is how much of GOAWAY debug data is kept.
	maxDebug = 256
	// maxPings is how many unanswered PINGs per direction are remembered.
	maxPings = 16
)

// defaultMaxFrameSize is SETTINGS_MAX_FRAME_SIZE before any SETTINGS.
const defaultMaxFrameSize = 16384

// Options configures a tap.
type Options struct {
	// MaxFrames is how many frames the timeline keeps (default 2000); past
	// it frames are counted and summarised, not kept.
	MaxFrames int
}

// Direction indices.
const (
	dirSend = 0 // client → server (Write)
	dirRecv = 1 // server → client (Read)
)

var dirName = [2]string{probe.H2Send, probe.H2Recv}
var sideName = [2]string{"client", "server"} // the side that sends in that direction

func other(d int) int { return 1 - d }

// Conn is a tapped connection. Read and Write pass through to the wrapped
// connection; Info reports what was seen so far.
type Conn struct {
	net.Conn
	t *tap
}

// Wrap taps c, the connection beneath HTTP/2 (after TLS). start is the
// probe's start (Recorder.Start) so that frame times are milliseconds
// relative to Result.StartedAt.
func Wrap(c net.Conn, start time.Time, o Options) *Conn {
	if o.MaxFrames <= 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	t := &tap{start: start, max: o.MaxFrames, ownGoAway: -1}
	t.flow.init()
	t.p[dirSend] = newParser(t, dirSend)
	t.p[dirRecv] = newParser(t, dirRecv)
	return &Conn{Conn: c, t: t}
}

// Read reads from the wrapped connection and parses a copy of what it got.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.t.p[dirRecv].feed(b[:n], time.Now())
	}
	return n, err
}

// Write writes to the wrapped connection and parses a copy of what went
// out. Frames are stamped when they were handed to Write, so that a reply
// read on the other goroutine can never look older than what it answers.
func (c *Conn) Write(b []byte) (int, error) {
	at := time.Now()
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.t.p[dirSend].feed(b[:n], at)
	}
	return n, err
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Info returns a snapshot of the tap: settings per side, the bounded frame
// timeline, stalls (a window still closed counts up to now), counts,
// stream summaries and the last GOAWAY.
func (c *Conn) Info() *probe.H2Info { return c.t.info(time.Now()) }

// Reset starts a new timeline at start on a connection that is being
// reused by a later probe: frames, counts, stalls and finished streams are
// forgotten; settings, windows and open streams carry over (they are the
// connection's state).
func (c *Conn) Reset(start time.Time) {
	t := c.t
	// Parsers first (lock order: parser, then tap), so no frame is
	// stamped against the old start after the switch.
	for _, p := range t.p {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start = start
	t.kept, t.extra, t.total = nil, 0, 0
	t.counts = [2][256]int{}
	t.pings = [2][]ping{}
	t.goaway, t.ownGoAway = nil, -1
	t.parseErr, t.parseN = "", 0
	t.flow.reset()
}
