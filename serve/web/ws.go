package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// The WebSocket session of a target's latest run: how it ended, and its
// messages and pings on a time line (an SVG strip drawn from plain
// geometry, plus the first events as a table). Message contents are never
// in a Result; the token only as its fingerprint.

// Bounds of the session view.
const (
	wsTimelineW    = 720.0
	wsTimelineH    = 44.0
	wsMaxMarks     = 400 // marks drawn on the strip
	wsMaxEventRows = 30  // events listed in the table
)

type wsView struct {
	Ended    string // how the session ended, one line
	EndedBad bool   // dropped, 1006/1011, or the upgrade failed
	Facts    string // upgrade, messages, pings
	Token    string // fingerprint, source, exp; never the token
	Timeline *wsTimeline
	Events   []wsEvent
	More     int // events not listed
}

type wsTimeline struct {
	W, H, AxisY, Span string
	Marks             []wsMark
	Close             *wsMark
}

// wsMark is a tick (message) or a dot (ping) on the strip.
type wsMark struct {
	Class        string
	X, Y1, Y2, Y string
	Dot          bool
	Title        string
	atMS         float64
}

type wsEvent struct {
	At, What string
	Bad      bool
	atMS     float64
}

// newWSView describes the ws block of r, or nil for other kinds.
func newWSView(r *probe.Result) *wsView {
	w := r.WS
	if w == nil {
		return nil
	}
	v := &wsView{}
	if w.UpgradeStatus != 101 {
		v.EndedBad = true
		switch {
		case w.UpgradeStatus == 0:
			v.Ended = "no upgrade: " + errorText(r.Error)
		default:
			v.Ended = "upgrade answered " + strconv.Itoa(w.UpgradeStatus) + " " + http.StatusText(w.UpgradeStatus) + ", not 101"
		}
	} else {
		v.Facts = fmt.Sprintf("101 Switching Protocols · %d messages in, %d out (%s / %s)", w.MessagesIn, w.MessagesOut, units.Bytes(w.BytesIn), units.Bytes(w.BytesOut))
		if w.Subprotocol != "" {
			v.Facts += " · subprotocol " + w.Subprotocol
		}
		if n := len(w.Pings); n > 0 {
			v.Facts += fmt.Sprintf(" · pings %d/%d answered every %s", len(w.PingRTTMS), n, units.MS(w.PingIntervalMS))
		}
	}
	if c := w.Close; c != nil {
		v.Ended, v.EndedBad = wsEnded(w, c), c.By == probe.WSClosedByServer && (!c.FrameReceived || c.Code == 1011)
		v.Timeline, v.Events, v.More = wsTimelineOf(w, c)
	}
	if w.TokenFingerprint != "" {
		v.Token = "token " + w.TokenFingerprint
		var meta []string
		if w.TokenSource != "" {
			meta = append(meta, w.TokenSource)
		}
		if w.TokenVia != "" {
			meta = append(meta, "via "+w.TokenVia)
		}
		if w.TokenExp != nil {
			meta = append(meta, "exp "+fmtTime(*w.TokenExp))
		}
		if len(meta) > 0 {
			v.Token += " (" + strings.Join(meta, ", ") + ")"
		}
	}
	return v
}

func wsEnded(w *probe.WSInfo, c *probe.WSClose) string {
	after := " after " + units.MS(w.SessionMS)
	switch {
	case c.By == probe.WSClosedByServer && !c.FrameReceived:
		s := "dropped by the server without a close frame" + after
		if c.Error != "" {
			s += " (" + c.Error + ")"
		}
		return s + ", " + units.MS(w.IdleMS) + " after the last traffic"
	case c.By == probe.WSClosedByServer:
		s := "closed by the server with " + strconv.Itoa(c.Code)
		if c.Reason != "" {
			s += " " + strconv.Quote(c.Reason)
		}
		return s + after + ", " + units.MS(w.IdleMS) + " after the last traffic"
	}
	s := "closed by pathlens with " + strconv.Itoa(c.Code) + after
	switch {
	case w.ReadLimited:
		s += " (a message exceeded " + strconv.FormatInt(w.MaxMessage, 10) + " B)"
	case w.HoldCut:
		s += " (the hold of " + units.MS(w.HoldMS) + " was cut by the budget)"
	default:
		s += " (end of the hold)"
	}
	if !c.FrameReceived {
		s += "; no close frame came back"
	}
	return s
}

// wsTimelineOf places messages, pings and the close on a strip spanning
// the session (upgrade done → close).
func wsTimelineOf(w *probe.WSInfo, c *probe.WSClose) (*wsTimeline, []wsEvent, int) {
	start := c.AtMS - w.SessionMS
	span := max(w.SessionMS, 1)
	x := func(at float64) string { return num(min(max((at-start)/span, 0), 1) * wsTimelineW) }
	rel := func(at float64) string { return "+" + units.MS(max(at-start, 0)) }
	axis := wsTimelineH / 2
	var marks []wsMark
	var events []wsEvent
	for _, m := range w.Messages {
		mk := wsMark{Class: "ws-in", X: x(m.AtMS), Y1: num(4), Y2: num(axis - 2), atMS: m.AtMS,
			Title: fmt.Sprintf("%s message in, %s, %s", m.Type, units.Bytes(m.Bytes), rel(m.AtMS))}
		what := fmt.Sprintf("← %s message, %s", m.Type, units.Bytes(m.Bytes))
		if m.Dir == "out" {
			mk.Class, mk.Y1, mk.Y2 = "ws-out", num(axis+2), num(wsTimelineH-4)
			mk.Title = fmt.Sprintf("%s message out, %s, %s", m.Type, units.Bytes(m.Bytes), rel(m.AtMS))
			what = fmt.Sprintf("→ %s message, %s", m.Type, units.Bytes(m.Bytes))
		}
		marks = append(marks, mk)
		events = append(events, wsEvent{At: rel(m.AtMS), What: what, atMS: m.AtMS})
	}
	for _, p := range w.Pings {
		mk := wsMark{Class: "ws-ping", X: x(p.SentMS), Y: num(axis), Dot: true, atMS: p.SentMS}
		what := "→ ping"
		switch {
		case p.Pong && !p.TimedOut:
			what += ", pong after " + units.MS(p.RTTMS)
		case p.Pong:
			mk.Class = "ws-timeout"
			what += ", pong late after " + units.MS(p.RTTMS)
		case p.TimedOut:
			mk.Class = "ws-timeout"
			what += ", no pong"
		default:
			what += ", no pong before the close"
		}
		mk.Title = what + ", " + rel(p.SentMS)
		marks = append(marks, mk)
		events = append(events, wsEvent{At: rel(p.SentMS), What: what, Bad: mk.Class == "ws-timeout", atMS: p.SentMS})
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].atMS < marks[j].atMS })
	sort.SliceStable(events, func(i, j int) bool { return events[i].atMS < events[j].atMS })
	if len(marks) > wsMaxMarks {
		marks = marks[:wsMaxMarks]
	}
	closeClass := "ws-close"
	who := "pathlens"
	if c.By == probe.WSClosedByServer {
		who = "the server"
		if !c.FrameReceived || c.Code == 1011 {
			closeClass += " bad"
		}
	}
	closeWhat := fmt.Sprintf("close by %s, code %d", who, c.Code)
	if !c.FrameReceived && c.By == probe.WSClosedByServer {
		closeWhat = "connection dropped by the server, no close frame"
	}
	events = append(events, wsEvent{At: rel(c.AtMS), What: closeWhat, Bad: strings.HasSuffix(closeClass, "bad")})
	tl := &wsTimeline{
		W: num(wsTimelineW), H: num(wsTimelineH), AxisY: num(axis), Span: units.MS(w.SessionMS), Marks: marks,
		Close: &wsMark{Class: closeClass, X: x(c.AtMS), Y1: "0", Y2: num(wsTimelineH), Title: closeWhat + ", " + rel(c.AtMS)},
	}
	more := 0
	if len(events) > wsMaxEventRows {
		more = len(events) - wsMaxEventRows
		// Keep the first rows and the close.
		events = append(events[:wsMaxEventRows-1], events[len(events)-1])
	}
	return tl, events, more
}
