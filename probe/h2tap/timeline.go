package h2tap

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathlens/pathlens/probe"
	"golang.org/x/net/http2"
)

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
				Debug: ev.debug, Streams: t.flow.opened[dirSend], Pending: t.flow.unanswered()}
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
