package output

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// The HTTP/2 view: a one-line summary under the http block whenever the
// probe spoke HTTP/2, and with Style.Frames (check --frames) the frame
// timeline — time, direction, frame, stream, key fields — compact enough to
// read on one screen for a normal request: runs of DATA and WINDOW_UPDATE
// frames fold into one line, stalls are marked where they began, and a
// long timeline keeps its head and tail.

// maxFrameLines bounds the timeline; past it the middle is elided.
const (
	maxFrameLines  = 60
	frameHeadLines = 40
)

// writeH2 writes the h2 summary line and, with s.Frames, the timeline.
func writeH2(b *bytes.Buffer, h *probe.H2Info, s Style) {
	if h == nil {
		return
	}
	writeWrapped(b, "h2    ", h2Summary(h, s), s.width())
	if s.Frames {
		writeFrames(b, h, s)
	}
}

// H2Summary is the one-line summary of an HTTP/2 connection as plain text
// (frame counts, both sides' windows, stalls, resets, GOAWAY); "" for nil.
func H2Summary(h *probe.H2Info) string {
	if h == nil {
		return ""
	}
	return strings.Join(h2Summary(h, Style{}), " ")
}

// TimelineLine is one line of the frame timeline: a frame, a folded run of
// DATA/WINDOW_UPDATE frames, a stall (Stall set) or an elision (AtMS < 0).
type TimelineLine struct {
	AtMS  float64
	Text  string
	Stall bool
}

// FrameTimeline returns the timeline check --frames prints, as plain text
// lines (for the web UI).
func FrameTimeline(h *probe.H2Info) []TimelineLine {
	if h == nil {
		return nil
	}
	lines := timeline(h, Style{})
	out := make([]TimelineLine, len(lines))
	for i, l := range lines {
		out[i] = TimelineLine{AtMS: l.at, Text: l.text, Stall: l.stall}
	}
	return out
}

// NotKept describes the frames a bounded timeline did not keep ("" when
// it kept them all).
func NotKept(h *probe.H2Info) string {
	if h == nil || h.FramesDropped <= 0 {
		return ""
	}
	return droppedWords(h)
}

func h2Summary(h *probe.H2Info, s Style) []string {
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
		parts = append(parts, s.paint(ansiYellow, fmt.Sprintf("%d stall%s (%s)", n, plural(n), units.MS(total)))+",")
	}
	for _, st := range h.Streams {
		if st.Reset != "" && st.ResetDir == probe.H2Recv {
			parts = append(parts, s.paint(ansiRed, fmt.Sprintf("RST_STREAM %s on stream %d", clean(st.Reset), st.ID))+",")
			break
		}
	}
	if g := h.GoAway; g != nil {
		parts = append(parts, s.paint(ansiYellow, fmt.Sprintf("GOAWAY %s", clean(g.Code)))+",")
	}
	if h.ParseError != "" {
		parts = append(parts, s.paint(ansiYellow, "tap stopped: "+clean(h.ParseError))+",")
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
		return clean(k) + "=" + strconv.FormatUint(uint64(v), 10)
	}
	if w.bytes {
		return w.word + " " + units.Bytes(int64(v))
	}
	return w.word + " " + strconv.FormatUint(uint64(v), 10)
}

// frameLine is one line of the timeline (at < 0: no time).
type frameLine struct {
	at    float64
	text  string
	stall bool
}

// timeline is frameLines with the middle of a long timeline elided.
func timeline(h *probe.H2Info, s Style) []frameLine {
	lines := frameLines(h, s)
	if len(lines) > maxFrameLines {
		tail := maxFrameLines - frameHeadLines - 1
		omitted := len(lines) - frameHeadLines - tail
		lines = append(append(lines[:frameHeadLines:frameHeadLines],
			frameLine{at: -1, text: s.paint(ansiDim, fmt.Sprintf("… %d lines omitted (all frames are in the JSON)", omitted))}),
			lines[len(lines)-tail:]...)
	}
	return lines
}

func writeFrames(b *bytes.Buffer, h *probe.H2Info, s Style) {
	head := fmt.Sprintf("%sframes  → sent by pathlens, ← by the server", indent)
	if h.FramesDropped > 0 {
		head += fmt.Sprintf("; %d of %d kept", len(h.Frames), h.FramesTotal)
	}
	b.WriteString(head + "\n")
	for _, l := range timeline(h, s) {
		if l.at < 0 {
			fmt.Fprintf(b, "%s%10s  %s\n", indent, "", l.text)
			continue
		}
		fmt.Fprintf(b, "%s%10s  %s\n", indent, units.MS(l.at), l.text)
	}
	if h.FramesDropped > 0 {
		fmt.Fprintf(b, "%s%10s  %s\n", indent, "", s.paint(ansiDim, "not kept: "+droppedWords(h)))
	}
}

// droppedWords summarises all frames by type, for a timeline that was cut.
func droppedWords(h *probe.H2Info) string {
	var parts []string
	for _, d := range []string{"send", "recv"} {
		m := h.Counts[d]
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %s ×%d", arrowText(d), clean(k), m[k]))
		}
	}
	return fmt.Sprintf("%d frames in all: %s", h.FramesTotal, strings.Join(parts, ", "))
}

func arrowText(dir string) string {
	if dir == probe.H2Send {
		return "→"
	}
	return "←"
}

// flowFrame reports whether f folds into a run: DATA without END_STREAM
// and WINDOW_UPDATE.
func flowFrame(f *probe.H2Frame) bool {
	return (f.Type == "DATA" && !strings.Contains(f.Flags, "END_STREAM")) || f.Type == "WINDOW_UPDATE"
}

// frameLines renders the timeline: single frames, folded runs, stalls.
func frameLines(h *probe.H2Info, s Style) []frameLine {
	var out []frameLine
	stalls := append([]probe.H2Stall(nil), h.Stalls...)
	sort.SliceStable(stalls, func(i, j int) bool { return stalls[i].StartMS < stalls[j].StartMS })
	// Stall boundaries break runs so that a stall shows where it happened.
	var marks []float64
	for _, st := range stalls {
		marks = append(marks, st.StartMS, st.StartMS+st.DurationMS)
	}
	crosses := func(a, b float64) bool {
		for _, m := range marks {
			if a <= m && m < b {
				return true
			}
		}
		return false
	}
	emitStalls := func(upTo float64) {
		for len(stalls) > 0 && stalls[0].StartMS <= upTo {
			out = append(out, frameLine{at: stalls[0].StartMS, text: stallText(stalls[0], s), stall: true})
			stalls = stalls[1:]
		}
	}
	fr := h.Frames
	for i := 0; i < len(fr); {
		j := i + 1
		if flowFrame(&fr[i]) {
			for j < len(fr) && flowFrame(&fr[j]) && !crosses(fr[j-1].AtMS, fr[j].AtMS) {
				j++
			}
		}
		if j-i <= 2 {
			j = i + 1
			emitStalls(fr[i].AtMS)
			out = append(out, frameLine{at: fr[i].AtMS, text: frameText(&fr[i], s)})
		} else {
			emitStalls(fr[i].AtMS)
			out = append(out, frameLine{at: fr[i].AtMS, text: runText(fr[i:j], s)})
		}
		i = j
	}
	emitStalls(1e18)
	return out
}

func dirArrow(dir string, s Style) string {
	if dir == probe.H2Send {
		return s.paint(ansiCyan, "→")
	}
	return s.paint(ansiMagenta, "←")
}

// frameText renders one frame: arrow, type, stream, key fields.
func frameText(f *probe.H2Frame, s Style) string {
	typ := clean(f.Type)
	var fields []string
	switch f.Type {
	case "SETTINGS":
		if strings.Contains(f.Flags, "ACK") {
			typ += " ACK"
			break
		}
		keys := make([]string, 0, len(f.Settings))
		for k := range f.Settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fields = append(fields, settingText(k, f.Settings[k]))
		}
		if len(fields) == 0 {
			fields = append(fields, "(defaults)")
		}
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
		fields = append(fields, s.paint(ansiRed, clean(f.ErrCode)))
		typ = s.paint(ansiRed, typ)
	case "GOAWAY":
		fields = append(fields, s.paint(ansiYellow, clean(f.ErrCode)), "last stream "+strconv.FormatUint(uint64(f.LastStream), 10))
		if f.Debug != "" {
			fields = append(fields, `"`+clean(f.Debug)+`"`)
		}
		typ = s.paint(ansiYellow, typ)
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
	if fl := flagsShown(f); fl != "" {
		fields = append(fields, s.paint(ansiDim, fl))
	}
	line := fmt.Sprintf("%s %s %s", dirArrow(f.Dir, s), pad(typ, 14), lpad(strconv.FormatUint(uint64(f.Stream), 10), 3))
	if len(fields) > 0 {
		line += "  " + strings.Join(fields, "  ")
	}
	return line
}

// flagsShown is the frame's flags minus the ones the type column says.
func flagsShown(f *probe.H2Frame) string {
	if f.Flags == "" || ((f.Type == "SETTINGS" || f.Type == "PING") && f.Flags == "ACK") {
		return ""
	}
	return clean(f.Flags)
}

// runText folds a run of DATA and WINDOW_UPDATE frames into one line.
func runText(run []probe.H2Frame, s Style) string {
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
			parts = append(parts, fmt.Sprintf("%s DATA ×%d %s", dirArrow(dir, s), data[d].n, units.Bytes(data[d].bytes)))
		}
	}
	for d, dir := range []string{probe.H2Send, probe.H2Recv} {
		if wu[d].n > 0 {
			parts = append(parts, fmt.Sprintf("%s WINDOW_UPDATE ×%d +%s", dirArrow(dir, s), wu[d].n, units.Bytes(wu[d].bytes)))
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

func stallText(st probe.H2Stall, s Style) string {
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
	return s.paint(ansiYellow, text)
}
