package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// h2Upload is an HTTPS probe over HTTP/2 whose upload stalled once, and
// whose server then sent GOAWAY.
func h2Upload() *probe.Result {
	r := healthyHTTPS()
	r.HTTP.Proto = "HTTP/2.0"
	fr := []probe.H2Frame{
		{AtMS: 2.4, Dir: "send", Type: "SETTINGS", Len: 24, Settings: map[string]uint32{"ENABLE_PUSH": 0, "INITIAL_WINDOW_SIZE": 4 << 20, "MAX_FRAME_SIZE": 16384}},
		{AtMS: 2.4, Dir: "send", Type: "WINDOW_UPDATE", Len: 4, Window: 1 << 30},
		{AtMS: 2.5, Dir: "send", Type: "HEADERS", Stream: 1, Len: 50, Flags: "END_HEADERS"},
		{AtMS: 2.6, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
		{AtMS: 2.6, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
		{AtMS: 2.7, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
		{AtMS: 2.7, Dir: "send", Type: "DATA", Stream: 1, Len: 16383},
		{AtMS: 2.8, Dir: "recv", Type: "SETTINGS", Len: 12, Settings: map[string]uint32{"INITIAL_WINDOW_SIZE": 65535, "MAX_CONCURRENT_STREAMS": 250}},
		{AtMS: 2.8, Dir: "send", Type: "SETTINGS", Flags: "ACK"},
		{AtMS: 2.9, Dir: "recv", Type: "SETTINGS", Flags: "ACK"},
		{AtMS: 257, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Len: 4, Window: 32768},
		{AtMS: 257.1, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
		{AtMS: 257.2, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
		{AtMS: 257.5, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Len: 4, Window: 32768},
		{AtMS: 257.6, Dir: "send", Type: "DATA", Stream: 1, Len: 1000, Flags: "END_STREAM"},
		{AtMS: 258, Dir: "recv", Type: "HEADERS", Stream: 1, Len: 38, Flags: "END_HEADERS", Status: 200},
		{AtMS: 258.1, Dir: "recv", Type: "GOAWAY", Len: 33, ErrCode: "NO_ERROR", LastStream: 1, Debug: "draining\x1b[2J"},
		{AtMS: 258.2, Dir: "recv", Type: "DATA", Stream: 1, Len: 23, Flags: "END_STREAM"},
		{AtMS: 259, Dir: "send", Type: "PING", Len: 8},
		{AtMS: 259.4, Dir: "recv", Type: "PING", Len: 8, Flags: "ACK", PingRTTMS: 0.4},
	}
	r.H2 = &probe.H2Info{
		Settings: map[string]map[string]uint32{
			"client": {"ENABLE_PUSH": 0, "INITIAL_WINDOW_SIZE": 4 << 20, "MAX_FRAME_SIZE": 16384},
			"server": {"INITIAL_WINDOW_SIZE": 65535, "MAX_CONCURRENT_STREAMS": 250},
		},
		Frames:      fr,
		Stalls:      []probe.H2Stall{{Dir: "send", Stream: 1, StartMS: 2.7, DurationMS: 254.3, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384}},
		FramesTotal: len(fr),
		Counts:      map[string]map[string]int{"send": {"SETTINGS": 2, "WINDOW_UPDATE": 1, "HEADERS": 1, "DATA": 7, "PING": 1}, "recv": {"SETTINGS": 2, "WINDOW_UPDATE": 2, "HEADERS": 1, "GOAWAY": 1, "DATA": 1, "PING": 1}},
		GoAway:      &probe.H2GoAway{AtMS: 258.1, Code: "NO_ERROR", LastStream: 1, Debug: "draining\x1b[2J", Streams: 1},
	}
	return r
}

func TestH2Frames(t *testing.T) {
	r := h2Upload()
	got := render(t, r, Style{Width: 80, Frames: true})
	golden(t, "h2_frames", got)
	if bytes.IndexByte(got, 0x1b) >= 0 {
		t.Errorf("escape byte in output")
	}
	for _, line := range strings.Split(string(got), "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("trailing space: %q", line)
		}
	}

	// Without --frames: the one summary line only.
	plain := string(render(t, r, Style{Width: 80}))
	if !strings.Contains(plain, "h2    20 frames (→ 12, ← 8), server window 64 KiB, streams 250,") ||
		!strings.Contains(plain, "1 stall (254 ms)") || strings.Contains(plain, "frames  →") {
		t.Errorf("summary:\n%s", plain)
	}

	// No h2 block, no h2 line.
	r.H2 = nil
	if s := string(render(t, r, Style{Width: 80, Frames: true})); strings.Contains(s, "\nh2    ") {
		t.Errorf("h2 line without h2:\n%s", s)
	}
}

// A flood keeps the view to one screen: head, tail and a note of what was
// not kept.
func TestH2FramesLong(t *testing.T) {
	r := healthyHTTPS()
	var fr []probe.H2Frame
	for i := range 200 {
		fr = append(fr, probe.H2Frame{AtMS: float64(i), Dir: "recv", Type: "PING", Len: 8})
	}
	r.H2 = &probe.H2Info{Frames: fr, FramesTotal: 1000000, FramesDropped: 1000000 - 200,
		Counts: map[string]map[string]int{"recv": {"PING": 999999, "SETTINGS": 1}}}
	got := string(render(t, r, Style{Width: 80, Frames: true}))
	lines := strings.Count(got, "\n")
	if !strings.Contains(got, "… 141 lines omitted") || !strings.Contains(got, "200 of 1000000 kept") ||
		!strings.Contains(got, "not kept: 1000000 frames in all: ← PING ×999999, ← SETTINGS ×1") || lines > 90 {
		t.Errorf("%d lines:\n%s", lines, got)
	}
}
