package output

import (
	"bytes"
	"fmt"

	"github.com/pathlens/pathlens/internal/h2text"
	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// The HTTP/2 view: a one-line summary under the http block whenever the
// probe spoke HTTP/2, and with Style.Frames (check --frames) the frame
// timeline — time, direction, frame, stream, key fields — compact enough to
// read on one screen for a normal request: runs of DATA and WINDOW_UPDATE
// frames fold into one line, stalls are marked where they began, and a
// long timeline keeps its head and tail. internal/h2text builds the text
// (the web UI shows the same); this file lays it out and colours it.

// writeH2 writes the h2 summary line and, with s.Frames, the timeline.
func writeH2(b *bytes.Buffer, h *probe.H2Info, s Style) {
	if h == nil {
		return
	}
	writeWrapped(b, "h2    ", h2text.Summary(h, s.h2Paint), s.width())
	if s.Frames {
		writeFrames(b, h, s)
	}
}

// H2Summary is the one-line summary of an HTTP/2 connection as plain text
// (frame counts, both sides' windows, stalls, resets, GOAWAY); "" for nil.
func H2Summary(h *probe.H2Info) string { return h2text.SummaryLine(h) }

// NotKept describes the frames a bounded timeline did not keep ("" when
// it kept them all).
func NotKept(h *probe.H2Info) string { return h2text.NotKept(h) }

// h2Colour is the ANSI colour of each h2text role.
var h2Colour = map[h2text.Role]string{
	h2text.Warn: ansiYellow,
	h2text.Bad:  ansiRed,
	h2text.Dim:  ansiDim,
	h2text.Send: ansiCyan,
	h2text.Recv: ansiMagenta,
}

// h2Paint is the h2text.Paint of s: the role's colour when colour is on.
func (s Style) h2Paint(r h2text.Role, text string) string {
	return s.paint(h2Colour[r], text)
}

func writeFrames(b *bytes.Buffer, h *probe.H2Info, s Style) {
	head := fmt.Sprintf("%sframes  → sent by pathlens, ← by the server", indent)
	if h.FramesDropped > 0 {
		head += fmt.Sprintf("; %d of %d kept", len(h.Frames), h.FramesTotal)
	}
	b.WriteString(head + "\n")
	for _, l := range h2text.Timeline(h, s.h2Paint) {
		if l.AtMS < 0 {
			fmt.Fprintf(b, "%s%10s  %s\n", indent, "", l.Text)
			continue
		}
		fmt.Fprintf(b, "%s%10s  %s\n", indent, units.MS(l.AtMS), l.Text)
	}
	if h.FramesDropped > 0 {
		fmt.Fprintf(b, "%s%10s  %s\n", indent, "", s.paint(ansiDim, "not kept: "+h2text.Dropped(h)))
	}
}
