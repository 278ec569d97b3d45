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
	"bytes"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathlens/pathlens/probe"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
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

// tap is the state shared by both directions.
type tap struct {
	start time.Time
	max   int
	p     [2]*parser

	mu        sync.Mutex
	kept      []event
	extra     int // notable frames kept past max
	total     int
	counts    [2][256]int
	settings  [2]map[string]uint32
	flow      flow
	pings     [2][]ping // outstanding PINGs sent in that direction
	goaway    *probe.H2GoAway
	goawayAt  time.Duration // of goaway
	ownGoAway time.Duration // when pathlens first sent GOAWAY (-1: never)
	parseErr  string
	parseN    int

	// Read without mu on every frame header / header block.
	limit    [2]atomic.Uint32 // receiver's MAX_FRAME_SIZE for frames sent in that direction
	hdrTable atomic.Uint32    // client's SETTINGS_HEADER_TABLE_SIZE (0: default 4096)
}

type ping struct {
	data [8]byte
	at   time.Duration
}

// event is one parsed frame.
type event struct {
	at       time.Duration
	dir      int
	typ      http2.FrameType
	flags    http2.Flags
	stream   uint32
	length   uint32
	inc      uint32        // WINDOW_UPDATE
	code     http2.ErrCode // RST_STREAM, GOAWAY
	last     uint32        // GOAWAY
	debug    string        // GOAWAY
	ping     [8]byte       // PING opaque data
	settings []http2.Setting
	status   int           // :status decoded from the header block this frame ended
	rtt      time.Duration // PING ACK
	hasRTT   bool
}

func notable(t http2.FrameType) bool {
	return t == http2.FrameSettings || t == http2.FrameRSTStream || t == http2.FrameGoAway
}

// record accounts one frame.
func (t *tap) record(ev *event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	t.counts[ev.dir][ev.typ]++
	switch ev.typ {
	case http2.FrameSettings:
		if ev.flags&http2.FlagSettingsAck == 0 {
			if t.settings[ev.dir] == nil {
				t.settings[ev.dir] = map[string]uint32{}
			}
			for _, s := range ev.settings {
				name := s.ID.String()
				if _, seen := t.settings[ev.dir][name]; seen || knownSetting(s.ID) || len(t.settings[ev.dir]) < maxSettingsPerSide {
					t.settings[ev.dir][name] = s.Val
				}
				switch {
				case s.ID == http2.SettingMaxFrameSize:
					t.limit[other(ev.dir)].Store(s.Val)
				case s.ID == http2.SettingHeaderTableSize && ev.dir == dirSend:
					t.hdrTable.Store(s.Val)
				}
			}
		}
	case http2.FramePing:
		if ev.flags&http2.FlagPingAck == 0 {
			if len(t.pings[ev.dir]) < maxPings {
				t.pings[ev.dir] = append(t.pings[ev.dir], ping{data: ev.ping, at: ev.at})
			}
		} else {
			ps := t.pings[other(ev.dir)]
			for i, p := range ps {
				if p.data == ev.ping {
					ev.rtt, ev.hasRTT = ev.at-p.at, true
					t.pings[other(ev.dir)] = append(ps[:i], ps[i+1:]...)
					break
				}
			}
		}
	case http2.FrameGoAway:
		// The server's GOAWAY, unless it only answers pathlens's own
		// (a client closing its connection sends GOAWAY first).
		switch {
		case ev.dir == dirSend:
			if t.ownGoAway < 0 || ev.at < t.ownGoAway {
				t.ownGoAway = ev.at
			}
			if t.goaway != nil && t.goawayAt >= ev.at {
				t.goaway = nil // recorded first, but it came after ours
			}
		case t.ownGoAway < 0 || ev.at < t.ownGoAway:
			t.goaway = &probe.H2GoAway{AtMS: ms(ev.at), Code: codeName(ev.code), LastStream: ev.last,
				Debug: ev.debug, Streams: t.flow.opened[dirSend]}
			t.goawayAt = ev.at
		}
	}
	t.flow.on(ev)
	if len(t.kept) < t.max || (notable(ev.typ) && t.extra < extraNotable) {
		if len(t.kept) >= t.max {
			t.extra++
		}
		t.kept = append(t.kept, *ev)
	}
}

func (t *tap) parseError(d int, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.parseN++
	if t.parseErr == "" {
		t.parseErr = dirName[d] + ": " + msg
	}
}

// limitFor returns the largest frame the receiver of direction d accepts
// (never less than the RFC 9113 default, so a SETTINGS parsed late on the
// other goroutine cannot make a legal frame look hostile).
func (t *tap) limitFor(d int) uint32 {
	return max(t.limit[d].Load(), defaultMaxFrameSize)
}

func (t *tap) info(now time.Time) *probe.H2Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := &probe.H2Info{
		Settings:    map[string]map[string]uint32{},
		Frames:      make([]probe.H2Frame, 0, len(t.kept)),
		FramesTotal: t.total,
		ParseError:  t.parseErr,
		ParseErrors: t.parseN,
	}
	for d := range 2 {
		m := map[string]uint32{}
		for k, v := range t.settings[d] {
			m[k] = v
		}
		in.Settings[sideName[d]] = m
	}
	for i := range t.kept {
		in.Frames = append(in.Frames, t.kept[i].frame())
	}
	// Each direction is in wire order already; the two interleave by the
	// time the tap saw them (the reader and the writer record concurrently).
	sort.SliceStable(in.Frames, func(i, j int) bool { return in.Frames[i].AtMS < in.Frames[j].AtMS })
	in.FramesDropped = t.total - len(t.kept)
	for d := range 2 {
		for typ, n := range t.counts[d] {
			if n == 0 {
				continue
			}
			if in.Counts == nil {
				in.Counts = map[string]map[string]int{}
			}
			if in.Counts[dirName[d]] == nil {
				in.Counts[dirName[d]] = map[string]int{}
			}
			in.Counts[dirName[d]][typeName(http2.FrameType(typ))] += n
		}
	}
	in.Stalls = t.flow.stallsAt(now.Sub(t.start))
	in.Streams = t.flow.summaries()
	for d := range 2 {
		if n := t.flow.exhausted[d]; n > 0 {
			if in.Exhausted == nil {
				in.Exhausted = map[string]int{}
			}
			in.Exhausted[dirName[d]] = n
		}
	}
	if t.goaway != nil {
		g := *t.goaway
		in.GoAway = &g
	}
	return in
}

func ms(d time.Duration) float64 { return probe.MS(d) }

// frame converts an event to its JSON form.
func (ev *event) frame() probe.H2Frame {
	f := probe.H2Frame{AtMS: ms(ev.at), Dir: dirName[ev.dir], Type: typeName(ev.typ), Stream: ev.stream,
		Len: int(ev.length), Flags: flagNames(ev.typ, ev.flags), Status: ev.status}
	switch ev.typ {
	case http2.FrameRSTStream:
		f.ErrCode = codeName(ev.code)
	case http2.FrameGoAway:
		f.ErrCode, f.LastStream, f.Debug = codeName(ev.code), ev.last, ev.debug
	case http2.FrameWindowUpdate:
		f.Window = ev.inc
	case http2.FrameSettings:
		if len(ev.settings) > 0 {
			f.Settings = make(map[string]uint32, len(ev.settings))
			for _, s := range ev.settings {
				f.Settings[s.ID.String()] = s.Val
			}
		}
	case http2.FramePing:
		if ev.hasRTT {
			f.PingRTTMS = ms(ev.rtt)
		}
	}
	return f
}

// typeName names a frame type as RFC 9113 does (UNKNOWN_0xNN otherwise).
func typeName(t http2.FrameType) string {
	if t <= http2.FrameContinuation {
		return t.String()
	}
	return fmt.Sprintf("UNKNOWN_0x%02x", uint8(t))
}

// codeName names an error code (UNKNOWN_0xNN for codes RFC 9113 does not define).
func codeName(c http2.ErrCode) string {
	if c <= http2.ErrCodeHTTP11Required {
		return c.String()
	}
	return fmt.Sprintf("UNKNOWN_0x%x", uint32(c))
}

var flagBits = []struct {
	bit   http2.Flags
	name  string
	types []http2.FrameType
}{
	{0x1, "END_STREAM", []http2.FrameType{http2.FrameData, http2.FrameHeaders}},
	{0x1, "ACK", []http2.FrameType{http2.FrameSettings, http2.FramePing}},
	{0x4, "END_HEADERS", []http2.FrameType{http2.FrameHeaders, http2.FrameContinuation, http2.FramePushPromise}},
	{0x8, "PADDED", []http2.FrameType{http2.FrameData, http2.FrameHeaders, http2.FramePushPromise}},
	{0x20, "PRIORITY", []http2.FrameType{http2.FrameHeaders}},
}

// flagNames renders flags as "END_STREAM|END_HEADERS"; bits without a
// meaning for the type are shown in hex.
func flagNames(t http2.FrameType, f http2.Flags) string {
	if f == 0 {
		return ""
	}
	var parts []string
	rest := f
	for _, b := range flagBits {
		if f&b.bit == 0 {
			continue
		}
		for _, bt := range b.types {
			if bt == t {
				parts = append(parts, b.name)
				rest &^= b.bit
				break
			}
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%02x", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// parseFlags is the inverse of flagNames (for Account on a JSON timeline).
func parseFlags(s string) http2.Flags {
	var f http2.Flags
	for _, p := range strings.Split(s, "|") {
		for _, b := range flagBits {
			if p == b.name {
				f |= b.bit
			}
		}
		var v uint8
		if _, err := fmt.Sscanf(p, "0x%x", &v); err == nil {
			f |= http2.Flags(v)
		}
	}
	return f
}

// parser follows one direction of the byte stream.
type parser struct {
	t   *tap
	dir int

	mu      sync.Mutex
	preface int // bytes of the client preface still to check (send side)
	dead    bool

	hdr  [9]byte
	hdrN int
	fh   http2.FrameHeader
	skip uint32 // payload bytes to pass over (DATA, oversized frames)
	buf  []byte // header + payload of the frame being collected
	need int    // payload bytes still to collect into buf

	framer *http2.Framer
	rd     bytes.Reader

	// HPACK (server → client only), to read :status.
	dec      *hpack.Decoder
	decOff   bool // a block was skipped or failed: the dynamic table is lost
	tableMax uint32
	block    int // bytes of the current header block
	status   int
}

var clientPreface = []byte(http2.ClientPreface)

func newParser(t *tap, d int) *parser {
	p := &parser{t: t, dir: d}
	if d == dirSend {
		p.preface = len(clientPreface)
	}
	p.framer = http2.NewFramer(nil, &p.rd)
	p.framer.AllowIllegalReads = true
	p.framer.SetMaxReadFrameSize(maxBuffered)
	if d == dirRecv {
		p.dec = hpack.NewDecoder(4096, p.emit)
		p.dec.SetMaxStringLength(16 << 10)
	}
	return p
}

func (p *parser) emit(f hpack.HeaderField) {
	if f.Name == ":status" && p.status == 0 {
		var n int
		if _, err := fmt.Sscanf(f.Value, "%d", &n); err == nil && n >= 100 && n <= 999 {
			p.status = n
		}
	}
}

// feed parses b, which has just crossed the connection at now.
func (p *parser) feed(b []byte, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := now.Sub(p.t.start)
	for len(b) > 0 && !p.dead {
		switch {
		case p.preface > 0:
			off := len(clientPreface) - p.preface
			n := min(p.preface, len(b))
			if !bytes.Equal(b[:n], clientPreface[off:off+n]) {
				p.fail("no HTTP/2 client preface")
				return
			}
			p.preface -= n
			b = b[n:]
		case p.skip > 0:
			n := min(uint32(len(b)), p.skip)
			p.skip -= n
			b = b[n:]
		case p.need > 0:
			n := min(len(b), p.need)
			p.buf = append(p.buf, b[:n]...)
			p.need -= n
			b = b[n:]
			if p.need == 0 {
				p.parseBuffered(at)
			}
		default:
			n := copy(p.hdr[p.hdrN:], b)
			p.hdrN += n
			b = b[n:]
			if p.hdrN == 9 {
				p.hdrN = 0
				p.header(at)
			}
		}
	}
}

func (p *parser) fail(msg string) {
	p.dead = true
	p.buf = nil
	p.t.parseError(p.dir, msg)
}

// header handles a complete 9-byte frame header.
func (p *parser) header(at time.Duration) {
	h := p.hdr
	fh := http2.FrameHeader{
		Length:   uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2]),
		Type:     http2.FrameType(h[3]),
		Flags:    http2.Flags(h[4]),
		StreamID: (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & (1<<31 - 1),
	}
	if limit := p.t.limitFor(p.dir); fh.Length > limit {
		p.fail(fmt.Sprintf("%s frame of %d bytes exceeds the receiver's MAX_FRAME_SIZE %d", typeName(fh.Type), fh.Length, limit))
		return
	}
	p.fh = fh
	switch {
	case fh.Type == http2.FrameData:
		// Only the header matters: length (padding included) and flags.
		p.t.record(&event{at: at, dir: p.dir, typ: fh.Type, flags: fh.Flags, stream: fh.StreamID, length: fh.Length})
		p.skip = fh.Length
	case fh.Length > maxBuffered:
		if fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation {
			p.decOff = true
		}
		p.t.record(&event{at: at, dir: p.dir, typ: fh.Type, flags: fh.Flags, stream: fh.StreamID, length: fh.Length})
		p.skip = fh.Length
	case fh.Length == 0:
		p.buf = append(p.buf[:0], h[:]...)
		p.parseBuffered(at)
	default:
		p.buf = append(p.buf[:0], h[:]...)
		p.need = int(fh.Length)
	}
}

// parseBuffered runs the framer over a complete frame in buf.
func (p *parser) parseBuffered(at time.Duration) {
	fh := p.fh
	ev := &event{at: at, dir: p.dir, typ: fh.Type, flags: fh.Flags, stream: fh.StreamID, length: fh.Length}
	p.rd.Reset(p.buf)
	f, err := p.framer.ReadFrame()
	if err != nil {
		// The frame is delimited, so the parse goes on; the HTTP/2 layer
		// above will have its own say about the error.
		p.t.parseError(p.dir, fmt.Sprintf("%s frame on stream %d: %v", typeName(fh.Type), fh.StreamID, err))
		if fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation {
			p.decOff = true
		}
		p.t.record(ev)
		p.shrink()
		return
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		unknown := 0
		_ = f.ForeachSetting(func(s http2.Setting) error {
			if !knownSetting(s.ID) {
				if unknown >= maxUnknownSettings {
					return nil
				}
				unknown++
			}
			ev.settings = append(ev.settings, s)
			return nil
		})
	case *http2.WindowUpdateFrame:
		ev.inc = f.Increment
	case *http2.RSTStreamFrame:
		ev.code = f.ErrCode
	case *http2.GoAwayFrame:
		ev.code, ev.last = f.ErrCode, f.LastStreamID
		ev.debug = printable(f.DebugData(), maxDebug)
	case *http2.PingFrame:
		ev.ping = f.Data
	case *http2.HeadersFrame:
		p.headerBlock(ev, f.HeaderBlockFragment(), true, f.HeadersEnded())
	case *http2.ContinuationFrame:
		p.headerBlock(ev, f.HeaderBlockFragment(), false, f.HeadersEnded())
	}
	p.t.record(ev)
	p.shrink()
}

// shrink drops a large buffer once its frame is parsed.
func (p *parser) shrink() {
	if cap(p.buf) > 32<<10 {
		p.buf = nil
	} else {
		p.buf = p.buf[:0]
	}
}

// headerBlock feeds a response header block to the HPACK decoder (server
// → client only) to learn :status.
func (p *parser) headerBlock(ev *event, frag []byte, first, end bool) {
	if p.dec == nil {
		return
	}
	if first {
		p.block, p.status = 0, 0
	}
	if v := p.t.hdrTable.Load(); v != 0 && v != p.tableMax {
		p.tableMax = v
		p.dec.SetAllowedMaxDynamicTableSize(v)
	}
	p.block += len(frag)
	if p.block > maxHeaderBlock {
		p.decOff = true
	}
	if !p.decOff {
		if _, err := p.dec.Write(frag); err != nil {
			p.decOff = true
		}
	}
	if end && !p.decOff {
		if err := p.dec.Close(); err != nil {
			p.decOff = true
		} else {
			ev.status = p.status
		}
	}
}

// printable returns at most n bytes of b as valid UTF-8 with control
// characters escaped.
func printable(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	var sb strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			fmt.Fprintf(&sb, "\\x%02x", r)
			continue
		}
		sb.WriteRune(r)
	}
	if cut {
		sb.WriteString("…")
	}
	return sb.String()
}

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

// A hostile server can name thousands of settings pathlens does not know
// (each its own map entry in every Result). The standard ones are always
// kept; of the others, a frame keeps maxUnknownSettings and a side's
// summary maxSettingsPerSide names in all.
const (
	maxUnknownSettings = 8
	maxSettingsPerSide = 32
)

// knownSetting reports whether id is a setting RFC 9113 or its extensions
// define (1–6, 8 ENABLE_CONNECT_PROTOCOL, 9 NO_RFC7540_PRIORITIES).
func knownSetting(id http2.SettingID) bool { return id >= 1 && id <= 9 && id != 7 }
