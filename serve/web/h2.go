package web

import (
	"fmt"

	"github.com/pathlens/pathlens/internal/h2text"
	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// h2View is the HTTP/2 frame timeline of a target's latest run: the
// summary line and the same compact timeline as `check --frames`.
type h2View struct {
	Summary string
	Lines   []h2Line
	NotKept string
}

type h2Line struct {
	At    string
	Text  string
	Stall bool
}

// newH2View returns the frame timeline of r, or nil when r did not speak
// HTTP/2.
func newH2View(r *probe.Result) *h2View {
	if r == nil || r.H2 == nil {
		return nil
	}
	v := &h2View{Summary: h2text.SummaryLine(r.H2), NotKept: h2text.NotKept(r.H2)}
	for _, l := range h2text.Timeline(r.H2, h2text.Plain) {
		at := ""
		if l.AtMS >= 0 {
			at = units.MS(l.AtMS)
		}
		v.Lines = append(v.Lines, h2Line{At: at, Text: l.Text, Stall: l.Stall})
	}
	if len(v.Lines) == 0 {
		v.NotKept = fmt.Sprintf("%d frames, none kept", r.H2.FramesTotal)
	}
	return v
}
