package h2tap

import (
	"fmt"
	"sort"
	"time"

	"github.com/pathlens/pathlens/probe"
	"golang.org/x/net/http2"
)

// Flow-control accounting (RFC 9113 §5.2, §6.9). Windows are kept per
// sender: index dirSend is pathlens's send windows (granted by the
// server), dirRecv the server's (granted by pathlens). Every window starts
// at 65535; SETTINGS_INITIAL_WINDOW_SIZE from the receiver moves every
// open stream's window by the difference (RFC 9113 §6.9.2) and sets the window of
// streams opened later; WINDOW_UPDATE adds; DATA subtracts its whole
// payload length, padding included.
//
// A stall is a sender that has data to send while a window is at or
// below zero for over StallThreshold: from the DATA frame that exhausted
// the window (without END_STREAM) to the WINDOW_UPDATE (or SETTINGS) that
// reopened it — confirmed only when the sender then sends more DATA — or,
// when the window never reopened, to the end of the timeline (or the
// stream's reset) while the stream is still open on the sender's side.

// StallThreshold is how long a zero window must last to count as a stall.
const StallThreshold = 100 * time.Millisecond

// Bounds on what the accounting remembers.
const (
	maxStreams = 1024
	maxStalls  = 256
)

// initialWindow is every window's size before SETTINGS (RFC 9113 §6.9.2).
const initialWindow = 65535

type stream struct {
	id     uint32
	win    [2]int64 // per sender
	end    [2]bool  // sender sent END_STREAM
	frames [2]int   // DATA frames per sender
	bytes  [2]int64 // DATA payload bytes per sender
	status int
	// initWin is the receiver's initial window per sender as first known
	// for this stream (0: the receiver's first SETTINGS had not arrived).
	initWin [2]uint32

	reset     bool
	resetCode http2.ErrCode
	resetDir  int
	resetAt   time.Duration
}

func (s *stream) open(d int) bool { return !s.end[d] && !s.reset }

// pending is a stream whose sender is blocked (its stream window or the
// connection window at or below zero) and may turn out to have stalled.
type pending struct {
	start    time.Duration
	reopened bool
	reopen   time.Duration
	// binding is the window that held the sender: the stream's id, or 0
	// for the connection window (the one whose update reopened it).
	binding uint32
	// settings in force when the window ran dry
	initial  uint32
	connPeak int64
	maxFrame uint32
}

// stallKey is a sender and a stream.
type stallKey struct {
	dir    int
	stream uint32
}

type flow struct {
	initial  [2]int64 // the receiver's INITIAL_WINDOW_SIZE, per sender
	conn     [2]int64 // connection window, per sender
	connPeak [2]int64
	maxFrame [2]uint32
	streams  map[uint32]*stream
	order    []*stream
	opened   [2]int  // streams opened per side ([dirSend]: pathlens's odd-numbered streams)
	seen     [2]bool // that side has sent a (non-ACK) SETTINGS

	pend      map[stallKey]*pending
	stalls    []probe.H2Stall
	exhausted [2]int
}

func (f *flow) init() {
	for d := range 2 {
		f.initial[d] = initialWindow
		f.conn[d] = initialWindow
		f.connPeak[d] = initialWindow
		f.maxFrame[d] = defaultMaxFrameSize
	}
	f.streams = map[uint32]*stream{}
	f.pend = map[stallKey]*pending{}
}

// get returns the stream, creating it when create is set (and the bound
// allows).
func (f *flow) get(id uint32, create bool) *stream {
	if id == 0 {
		return nil
	}
	if s := f.streams[id]; s != nil || !create || len(f.streams) >= maxStreams {
		return s
	}
	s := &stream{id: id, win: [2]int64{f.initial[0], f.initial[1]}}
	for d := range 2 {
		if f.seen[other(d)] {
			s.initWin[d] = uint32(f.initial[d])
		}
	}
	f.streams[id] = s
	f.order = append(f.order, s)
	return s
}

// blocked reports whether sender d cannot send DATA on x.
func (f *flow) blocked(d int, x *stream) bool { return f.conn[d] <= 0 || x.win[d] <= 0 }

// on accounts one frame: each frame type's flow-control rule, in RFC
// 9113 terms, is the method its case calls.
func (f *flow) on(ev *event) {
	switch ev.typ {
	case http2.FrameSettings:
		f.settings(ev)
	case http2.FrameWindowUpdate:
		f.windowUpdate(ev)
	case http2.FrameHeaders:
		f.headers(ev)
	case http2.FrameContinuation:
		// The :status of a header block is known at the frame that ends it.
		if x := f.get(ev.stream, false); x != nil && ev.status != 0 && (x.status == 0 || x.status < 200) {
			x.status = ev.status
		}
	case http2.FrameData:
		f.data(ev)
	case http2.FrameRSTStream:
		f.rstStream(ev)
	}
}

// settings applies a (non-ACK) SETTINGS frame to what the other side
// sends: INITIAL_WINDOW_SIZE moves every open stream's window by the
// difference and may reopen a window; MAX_FRAME_SIZE is remembered. The
// first SETTINGS fixes the initial window of the streams opened before it.
func (f *flow) settings(ev *event) {
	if ev.flags&http2.FlagSettingsAck != 0 {
		return
	}
	d := ev.dir
	s := other(d) // the settings govern what the other side sends
	first := !f.seen[d]
	f.seen[d] = true
	for _, st := range ev.settings {
		switch st.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(st.Val) - f.initial[s]
			f.initial[s] = int64(st.Val)
			for _, x := range f.order {
				if x.open(s) {
					x.win[s] += delta
				}
			}
			f.reopen(s, 0, false, ev.at)
		case http2.SettingMaxFrameSize:
			f.maxFrame[s] = st.Val
		}
	}
	if first {
		for _, x := range f.order {
			if x.initWin[s] == 0 {
				x.initWin[s] = uint32(f.initial[s])
			}
		}
	}
}

// windowUpdate adds a WINDOW_UPDATE's increment to the other side's
// connection or stream window, which may reopen it.
func (f *flow) windowUpdate(ev *event) {
	s := other(ev.dir)
	if ev.stream == 0 {
		f.conn[s] += int64(ev.inc)
		f.connPeak[s] = max(f.connPeak[s], f.conn[s])
		f.reopen(s, 0, true, ev.at)
		return
	}
	if x := f.get(ev.stream, false); x != nil {
		x.win[s] += int64(ev.inc)
		f.reopen(s, x.id, false, ev.at)
	}
}

// headers opens the stream of a HEADERS frame, keeps its final :status
// and, with END_STREAM, ends the sender's side of it.
func (f *flow) headers(ev *event) {
	known := f.streams[ev.stream] != nil
	x := f.get(ev.stream, true)
	if x == nil {
		return
	}
	if !known && ev.stream%2 == 1 {
		f.opened[dirSend]++ // client-initiated (odd) streams, whichever frame showed it first
	}
	if ev.status != 0 && (x.status == 0 || x.status < 200) {
		x.status = ev.status
	}
	if ev.flags&http2.FlagHeadersEndStream != 0 {
		x.end[ev.dir] = true
		delete(f.pend, stallKey{ev.dir, x.id}) // trailers only: nothing was waiting
	}
}

// rstStream records a stream's (first) reset; a sender still blocked on
// it stalled until the reset.
func (f *flow) rstStream(ev *event) {
	x := f.get(ev.stream, true)
	if x == nil || x.reset {
		return
	}
	x.reset, x.resetCode, x.resetDir, x.resetAt = true, ev.code, ev.dir, ev.at
	for s := range 2 {
		k := stallKey{s, x.id}
		if p := f.pend[k]; p != nil {
			if !p.reopened && !x.end[s] {
				p.binding = f.binding(s, x)
				f.stall(k, p, ev.at, false) // blocked until the reset
			}
			delete(f.pend, k)
		}
	}
}

func (f *flow) data(ev *event) {
	d := ev.dir
	n := int64(ev.length)
	x := f.get(ev.stream, false)
	if x != nil && n > 0 {
		// More data: a reopened window was a real wait.
		f.confirm(stallKey{d, x.id}, ev.at)
	}
	f.conn[d] -= n
	if x != nil {
		x.win[d] -= n
		x.frames[d]++
		x.bytes[d] += n
	}
	if n > 0 && (f.conn[d] <= 0 || (x != nil && x.win[d] <= 0)) {
		f.exhausted[d]++
	}
	if x == nil {
		return
	}
	k := stallKey{d, x.id}
	if ev.flags&http2.FlagDataEndStream != 0 {
		x.end[d] = true
		delete(f.pend, k) // the body fit: nothing was waiting
		return
	}
	if f.blocked(d, x) {
		if p := f.pend[k]; p == nil || p.reopened {
			f.pend[k] = &pending{start: ev.at, initial: uint32(f.initial[d]), connPeak: f.connPeak[d], maxFrame: f.maxFrame[d]}
		}
	}
}

// binding names the window holding sender d on x: 0 for the connection.
func (f *flow) binding(d int, x *stream) uint32 {
	if f.conn[d] <= 0 {
		return 0
	}
	return x.id
}

// reopen marks sender s's blocked streams (only stream id, when not 0)
// that can send again; byConn says a connection WINDOW_UPDATE did it.
func (f *flow) reopen(s int, id uint32, byConn bool, at time.Duration) {
	for k, p := range f.pend {
		if k.dir != s || p.reopened || (id != 0 && k.stream != id) {
			continue
		}
		x := f.streams[k.stream]
		if x == nil || f.blocked(s, x) {
			continue
		}
		p.reopened, p.reopen = true, at
		p.binding = x.id
		if byConn {
			p.binding = 0
		}
	}
}

// confirm records k's wait when the window had reopened (the sender went on
// sending), or ends it now when it had not (the sender overran the window
// as accounted: count the wait up to here).
func (f *flow) confirm(k stallKey, at time.Duration) {
	p := f.pend[k]
	if p == nil {
		return
	}
	end := at
	if p.reopened {
		end = p.reopen
	} else if x := f.streams[k.stream]; x != nil {
		p.binding = f.binding(k.dir, x)
	}
	f.stall(k, p, end, false)
	delete(f.pend, k)
}

func (f *flow) stall(k stallKey, p *pending, end time.Duration, ongoing bool) {
	if end-p.start <= StallThreshold || len(f.stalls) >= maxStalls {
		return
	}
	f.stalls = append(f.stalls, makeStall(k, p, end, ongoing))
}

func makeStall(k stallKey, p *pending, end time.Duration, ongoing bool) probe.H2Stall {
	return probe.H2Stall{Dir: dirName[k.dir], Stream: p.binding, StartMS: ms(p.start), DurationMS: ms(end - p.start),
		Ongoing: ongoing, InitialWindow: p.initial, ConnWindow: p.connPeak, MaxFrameSize: p.maxFrame}
}

// stallsAt returns the recorded stalls plus the senders still blocked at
// the end of the timeline on a stream they had not ended.
func (f *flow) stallsAt(end time.Duration) []probe.H2Stall {
	out := make([]probe.H2Stall, 0, len(f.stalls)+len(f.pend))
	out = append(out, f.stalls...)
	keys := make([]stallKey, 0, len(f.pend))
	for k := range f.pend {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := f.pend[keys[i]].start, f.pend[keys[j]].start; a != b {
			return a < b
		}
		return keys[i].stream < keys[j].stream
	})
	for _, k := range keys {
		p := f.pend[k]
		x := f.streams[k.stream]
		if p.reopened || end-p.start <= StallThreshold || x == nil || !x.open(k.dir) || len(out) >= maxStalls {
			continue
		}
		q := *p
		q.binding = f.binding(k.dir, x)
		out = append(out, makeStall(k, &q, end, true))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartMS < out[j].StartMS })
	return out
}

func (f *flow) summaries() []probe.H2Stream {
	if len(f.order) == 0 {
		return nil
	}
	out := make([]probe.H2Stream, 0, min(len(f.order), 256))
	for _, x := range f.order {
		if len(out) == 256 {
			break
		}
		s := probe.H2Stream{ID: x.id, Status: x.status, SendWindow: x.initWin[dirSend], RecvWindow: x.initWin[dirRecv],
			SentFrames: x.frames[dirSend], SentBytes: x.bytes[dirSend], RecvFrames: x.frames[dirRecv], RecvBytes: x.bytes[dirRecv],
			SentEnd: x.end[dirSend], RecvEnd: x.end[dirRecv]}
		for d, w := range []*uint32{&s.SendWindow, &s.RecvWindow} {
			if *w == 0 {
				*w = uint32(f.initial[d]) // the receiver never sent SETTINGS
			}
		}
		if x.reset {
			s.Reset, s.ResetDir, s.ResetAtMS = codeName(x.resetCode), dirName[x.resetDir], ms(x.resetAt)
		}
		out = append(out, s)
	}
	return out
}

// Account runs the flow-control accounting over a timeline (for example
// H2Info.Frames read back from JSON) and returns its stalls, counting a
// window still closed up to endMS.
func Account(frames []probe.H2Frame, endMS float64) ([]probe.H2Stall, error) {
	var f flow
	f.init()
	for i := range frames {
		ev, err := eventOf(&frames[i])
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		f.on(ev)
	}
	return f.stallsAt(fromMS(endMS)), nil
}

func fromMS(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

var typeByName = func() map[string]http2.FrameType {
	m := map[string]http2.FrameType{}
	for t := http2.FrameData; t <= http2.FrameContinuation; t++ {
		m[t.String()] = t
	}
	return m
}()

var settingByName = func() map[string]http2.SettingID {
	m := map[string]http2.SettingID{}
	for id := http2.SettingHeaderTableSize; id <= http2.SettingMaxHeaderListSize; id++ {
		m[id.String()] = id
	}
	return m
}()

var codeByName = func() map[string]http2.ErrCode {
	m := map[string]http2.ErrCode{}
	for c := http2.ErrCodeNo; c <= http2.ErrCodeHTTP11Required; c++ {
		m[c.String()] = c
	}
	return m
}()

func eventOf(fr *probe.H2Frame) (*event, error) {
	ev := &event{at: fromMS(fr.AtMS), stream: fr.Stream, length: uint32(fr.Len), inc: fr.Window,
		last: fr.LastStream, status: fr.Status, flags: parseFlags(fr.Flags)}
	switch fr.Dir {
	case probe.H2Send:
		ev.dir = dirSend
	case probe.H2Recv:
		ev.dir = dirRecv
	default:
		return nil, fmt.Errorf("direction %q", fr.Dir)
	}
	t, ok := typeByName[fr.Type]
	if !ok {
		return nil, fmt.Errorf("frame type %q", fr.Type)
	}
	ev.typ = t
	if fr.ErrCode != "" {
		ev.code = codeByName[fr.ErrCode]
	}
	names := make([]string, 0, len(fr.Settings))
	for k := range fr.Settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if id, ok := settingByName[k]; ok {
			ev.settings = append(ev.settings, http2.Setting{ID: id, Val: fr.Settings[k]})
		}
	}
	return ev, nil
}

// reset forgets stalls and finished streams (Conn.Reset).
// unanswered counts pathlens's (odd-numbered) streams the server has not
// finished: neither ended (END_STREAM) nor reset by either side. Frames
// of one direction are accounted in wire order, so at a server's GOAWAY
// it counts the responses still owed.
func (f *flow) unanswered() int {
	n := 0
	for _, x := range f.order {
		if x.id%2 == 1 && x.open(dirRecv) {
			n++
		}
	}
	return n
}

func (f *flow) reset() {
	f.stalls = nil
	f.exhausted = [2]int{}
	f.opened = [2]int{}
	clear(f.pend) // their start times belong to the old timeline
	keep := f.order[:0]
	for _, x := range f.order {
		if x.open(dirSend) || x.open(dirRecv) {
			keep = append(keep, x)
		} else {
			delete(f.streams, x.id)
		}
	}
	clear(f.order[len(keep):])
	f.order = keep
}
