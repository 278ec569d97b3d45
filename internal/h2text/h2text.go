// Package h2text builds the text of the HTTP/2 view — the one-line
// summary, the compact frame timeline and the "not kept" line — from a
// Result's h2 block, for both the terminal renderer (output) and the web UI
// (serve/web). It knows no terminal: where a piece of text carries meaning
// (a warning, a send arrow) it asks a Paint function, which output maps to
// ANSI colours and the web leaves plain.
package h2text

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// Role is what a painted piece of text means.
type Role int

const (
	Warn Role = iota // stalls, GOAWAY, a stopped tap
	Bad              // RST_STREAM
	Dim              // flags, elisions
	Send             // the → arrow
	Recv             // the ← arrow
)

// Paint styles text of a role; Plain returns it unchanged.
type Paint func(r Role, text string) string

// Plain is the Paint of uncoloured text.
func Plain(_ Role, text string) string { return text }

// The timeline's bounds: past MaxLines the middle is elided, keeping
// HeadLines at the head.
const (
	MaxLines  = 60
	HeadLines = 40
)

// Line is one line of the frame timeline: a frame, a folded run of
// DATA/WINDOW_UPDATE frames, a stall (Stall set) or an elision (AtMS < 0).
type Line struct {
	AtMS  float64
	Text  string
	Stall bool
}

// SummaryLine is the one-line summary of an HTTP/2 connection as plain
// text (frame counts, both sides' windows, stalls, resets, GOAWAY); "" for
// nil.
func SummaryLine(h *probe.H2Info) string {
	if h == nil {
		return ""
	}
	return strings.Join(Summary(h, Plain), " ")
}

// NotKept describes the frames a bounded timeline did not keep ("" when
// it kept them all or h is nil).
func NotKept(h *probe.H2Info) string {
	if h == nil || h.FramesDropped <= 0 {
		return ""
	}
	return Dropped(h)
}

// Summary is the summary as words that a caller may wrap: each part but
// the last ends in a comma.
func Summary(h *probe.H2Info, p Paint) []string {
	var parts []string
	sent, recv := sumCounts(h.Counts["send"]), sumCounts(h.Counts["recv"])
	parts = append(parts, fmt.Sprintf("%d frames (→ %d, ← %d)", h.FramesTotal, sent, recv)+",")
	if v := settingsWords(h.Settings["server"]); v != "" {
		parts = append(parts, "server "+v+",")
	}
	if v := settingsWords(h.Settings["client"]); v != "" {
		parts = append(parts, "pathlens "+v+",")
	}
	if n := len(h.Stalls); n > 0 {
		var total float64
		for _, st := range h.Stalls {
			total += st.DurationMS
		}
		parts = append(parts, p(Warn, fmt.Sprintf("%d stall%s (%s)", n, plural(n), units.MS(total)))+",")
	}
	for _, st := range h.Streams {
		if st.Reset != "" && st.ResetDir == probe.H2Recv {
			parts = append(parts, p(Bad, fmt.Sprintf("RST_STREAM %s on stream %d", Clean(st.Reset), st.ID))+",")
			break
		}
	}
	if g := h.GoAway; g != nil {
		parts = append(parts, p(Warn, fmt.Sprintf("GOAWAY %s", Clean(g.Code)))+",")
	}
	if h.ParseError != "" {
		parts = append(parts, p(Warn, "tap stopped: "+Clean(h.ParseError))+",")
	}
	parts[len(parts)-1] = strings.TrimSuffix(parts[len(parts)-1], ",")
	return parts
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// settingWord is the short name of a setting in the summary and timeline,
// and whether its value is a byte count.
var settingWord = map[string]struct {
	word  string
	bytes bool
}{
	"HEADER_TABLE_SIZE":       {"table", true},
	"ENABLE_PUSH":             {"push", false},
	"MAX_CONCURRENT_STREAMS":  {"streams", false},
	"INITIAL_WINDOW_SIZE":     {"window", true},
	"MAX_FRAME_SIZE":          {"frame", true},
	"MAX_HEADER_LIST_SIZE":    {"headers", true},
	"ENABLE_CONNECT_PROTOCOL": {"connect", false},
	"NO_RFC7540_PRIORITIES":   {"no-priorities", false},
}

// settingsWords renders settings as "window 1 MiB, frame 16 KiB, …" in a
// fixed order (the summary shows the window, frame size and stream limit).
func settingsWords(m map[string]uint32) string {
	var out []string
	for _, k := range []string{"INITIAL_WINDOW_SIZE", "MAX_FRAME_SIZE", "MAX_CONCURRENT_STREAMS"} {
		if v, ok := m[k]; ok {
			out = append(out, settingText(k, v))
		}
	}
	return strings.Join(out, ", ")
}

func settingText(k string, v uint32) string {
	w, ok := settingWord[k]
	if !ok {
		return Clean(k) + "=" + strconv.FormatUint(uint64(v), 10)
	}
	if w.bytes {
		return w.word + " " + units.Bytes(int64(v))
	}
	return w.word + " " + strconv.FormatUint(uint64(v), 10)
}

// Timeline is the frame timeline check --frames prints, with the middle
// of a long one elided; nil for nil.
func Timeline(h *probe.H2Info, p Paint) []Line {
	if h == nil {
		return nil
	}
	lines := frameLines(h, p)
	if len(lines) > MaxLines {
		tail := MaxLines - HeadLines - 1
		omitted := len(lines) - HeadLines - tail
		lines = append(append(lines[:HeadLines:HeadLines],
			Line{AtMS: -1, Text: p(Dim, fmt.Sprintf("… %d lines omitted (all frames are in the JSON)", omitted))}),
			lines[len(lines)-tail:]...)
	}
	return lines
}

// Dropped summarises all frames by type, for a timeline that was cut.
func Dropped(h *probe.H2Info) string {
	var parts []string
	for _, d := range []string{"send", "recv"} {
		m := h.Counts[d]
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %s ×%d", arrow(d, Plain), Clean(k), m[k]))
		}
	}
	return fmt.Sprintf("%d frames in all: %s", h.FramesTotal, strings.Join(parts, ", "))
}

func arrow(dir string, p Paint) string {
	if dir == probe.H2Send {
		return p(Send, "→")
	}
	return p(Recv, "←")
}

// flowFrame reports whether f folds into a run: DATA without END_STREAM
// and WINDOW_UPDATE.
func flowFrame(f *probe.H2Frame) bool {
	return (f.Type == "DATA" && !strings.Contains(f.Flags, "END_STREAM")) || f.Type == "WINDOW_UPDATE"
}

// stallMarks tells whether a run of frames would cross a stall's start or
// end: stall boundaries break runs so that a stall shows where it happened.
type stallMarks []float64

func newStallMarks(stalls []probe.H2Stall) stallMarks {
	var marks stallMarks
	for _, st := range stalls {
		marks = append(marks, st.StartMS, st.StartMS+st.DurationMS)
	}
	return marks
}

// crosses reports whether a mark lies in [a, b).
func (marks stallMarks) crosses(a, b float64) bool {
	for _, m := range marks {
		if a <= m && m < b {
			return true
		}
	}
	return false
}

// frameLines renders the timeline: single frames, folded runs, stalls.
func frameLines(h *probe.H2Info, p Paint) []Line {
	var out []Line
	stalls := append([]probe.H2Stall(nil), h.Stalls...)
	sort.SliceStable(stalls, func(i, j int) bool { return stalls[i].StartMS < stalls[j].StartMS })
	marks := newStallMarks(stalls)
	emitStalls := func(upTo float64) {
		for len(stalls) > 0 && stalls[0].StartMS <= upTo {
			out = append(out, Line{AtMS: stalls[0].StartMS, Text: stallText(stalls[0], p), Stall: true})
			stalls = stalls[1:]
		}
	}
	fr := h.Frames
	for i := 0; i < len(fr); {
		j := i + 1
		if flowFrame(&fr[i]) {
			for j < len(fr) && flowFrame(&fr[j]) && !marks.crosses(fr[j-1].AtMS, fr[j].AtMS) {
				j++
			}
		}
		emitStalls(fr[i].AtMS)
		if j-i <= 2 {
			j = i + 1
			out = append(out, Line{AtMS: fr[i].AtMS, Text: frameText(&fr[i], p)})
		} else {
			out = append(out, Line{AtMS: fr[i].AtMS, Text: runText(fr[i:j], p)})
		}
		i = j
	}
	emitStalls(1e18)
	return out
}

// frameText renders one frame: arrow, type, stream, key fields.
func frameText(f *probe.H2Frame, p Paint) string {
	typ, fields := frameFields(f, p)
	if fl := flagsShown(f); fl != "" {
		fields = append(fields, p(Dim, fl))
	}
	line := fmt.Sprintf("%s %s %s", arrow(f.Dir, p), pad(typ, 14), lpad(strconv.FormatUint(uint64(f.Stream), 10), 3))
	if len(fields) > 0 {
		line += "  " + strings.Join(fields, "  ")
	}
	return line
}

// frameFields is the type column and the key fields of one frame.
func frameFields(f *probe.H2Frame, p Paint) (typ string, fields []string) {
	typ = Clean(f.Type)
	switch f.Type {
	case "SETTINGS":
		if strings.Contains(f.Flags, "ACK") {
			return typ + " ACK", nil
		}
		fields = settingsFields(f.Settings)
	case "WINDOW_UPDATE":
		fields = append(fields, "+"+units.Bytes(int64(f.Window)))
	case "DATA":
		fields = append(fields, units.Bytes(int64(f.Len)))
	case "HEADERS", "CONTINUATION", "PUSH_PROMISE":
		if f.Status > 0 {
			fields = append(fields, ":status "+strconv.Itoa(f.Status))
		}
		fields = append(fields, "block "+units.Bytes(int64(f.Len)))
	case "RST_STREAM":
		fields = append(fields, p(Bad, Clean(f.ErrCode)))
		typ = p(Bad, typ)
	case "GOAWAY":
		fields = append(fields, p(Warn, Clean(f.ErrCode)), "last stream "+strconv.FormatUint(uint64(f.LastStream), 10))
		if f.Debug != "" {
			fields = append(fields, `"`+Clean(f.Debug)+`"`)
		}
		typ = p(Warn, typ)
	case "PING":
		if strings.Contains(f.Flags, "ACK") {
			typ += " ACK"
			if f.PingRTTMS > 0 {
				fields = append(fields, "rtt "+units.MS(f.PingRTTMS))
			}
		}
	default:
		fields = append(fields, units.Bytes(int64(f.Len)))
	}
	return typ, fields
}

// settingsFields lists a SETTINGS frame's settings by name.
func settingsFields(m map[string]uint32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var fields []string
	for _, k := range keys {
		fields = append(fields, settingText(k, m[k]))
	}
	if len(fields) == 0 {
		fields = append(fields, "(defaults)")
	}
	return fields
}

// flagsShown is the frame's flags minus the ones the type column says.
func flagsShown(f *probe.H2Frame) string {
	if f.Flags == "" || ((f.Type == "SETTINGS" || f.Type == "PING") && f.Flags == "ACK") {
		return ""
	}
	return Clean(f.Flags)
}

// runText folds a run of DATA and WINDOW_UPDATE frames into one line.
func runText(run []probe.H2Frame, p Paint) string {
	type agg struct {
		n     int
		bytes int64
	}
	var data, wu [2]agg // index 0 send, 1 recv
	streams := map[uint32]bool{}
	for i := range run {
		f := &run[i]
		d := 0
		if f.Dir == probe.H2Recv {
			d = 1
		}
		if f.Type == "DATA" {
			data[d].n++
			data[d].bytes += int64(f.Len)
			streams[f.Stream] = true
		} else {
			wu[d].n++
			wu[d].bytes += int64(f.Window)
		}
	}
	var parts []string
	for d, dir := range []string{probe.H2Send, probe.H2Recv} {
		if data[d].n > 0 {
			parts = append(parts, fmt.Sprintf("%s DATA ×%d %s", arrow(dir, p), data[d].n, units.Bytes(data[d].bytes)))
		}
	}
	for d, dir := range []string{probe.H2Send, probe.H2Recv} {
		if wu[d].n > 0 {
			parts = append(parts, fmt.Sprintf("%s WINDOW_UPDATE ×%d +%s", arrow(dir, p), wu[d].n, units.Bytes(wu[d].bytes)))
		}
	}
	ids := make([]string, 0, len(streams))
	for id := range streams {
		ids = append(ids, strconv.FormatUint(uint64(id), 10))
	}
	sort.Strings(ids)
	where := ""
	if len(ids) > 0 {
		where = "  stream " + strings.Join(ids, ",")
	}
	return fmt.Sprintf("%s  (%d frames until %s)%s", strings.Join(parts, ", "), len(run), units.MS(run[len(run)-1].AtMS), where)
}

func stallText(st probe.H2Stall, p Paint) string {
	who := "pathlens waited for the server's window"
	if st.Dir == probe.H2Recv {
		who = "the server waited for pathlens's window"
	}
	which := fmt.Sprintf("stream %d", st.Stream)
	if st.Stream == 0 {
		which = "connection window"
	}
	text := fmt.Sprintf("‖ stall %s: %s (%s, initial window %s)", units.MS(st.DurationMS), who, which, units.Bytes(int64(st.InitialWindow)))
	if st.Ongoing {
		text += ", still closed at the end"
	}
	return p(Warn, text)
}

// Clean makes a string that came from the network (or anywhere else)
// safe to print on a terminal or a page: control characters, including
// ESC, and bidirectional overrides are shown escaped instead of being
// emitted; a tab becomes a space. output's clean is this function.
func Clean(s string) string {
	s = strings.ReplaceAll(s, "\t", " ")
	ok := true
	for _, r := range s {
		if unsafeRune(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// pad right-pads s with spaces to n display columns.
func pad(s string, n int) string {
	if w := utf8.RuneCountInString(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

// lpad left-pads s with spaces to n display columns.
func lpad(s string, n int) string {
	if w := utf8.RuneCountInString(s); w < n {
		return strings.Repeat(" ", n-w) + s
	}
	return s
}
