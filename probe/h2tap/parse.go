package h2tap

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The tap reads frames with golang.org/x/net/http2's Framer and HPACK
// decoder, and names frame types, flags, settings and error codes with its
// constants: net/http's HTTP/2 (a bundled, unexported copy of x/net/http2)
// exports none of them. x/net is used for parsing only; the connections
// are run by net/http's client (probe/httpx) or grpc-go's (probe/grpcx).

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
