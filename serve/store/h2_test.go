package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pathlens/pathlens/probe"
)

// hostileH2 is the HTTP/2 block of a server that floods frames: as many
// as the tap keeps (2,000 plus 100 notable ones), of 60,000 seen, with
// RST_STREAMs, a GOAWAY and a SETTINGS flood among PINGs, and the tap's
// bounds of streams and stalls.
func hostileH2() *probe.H2Info {
	h := &probe.H2Info{
		Settings: map[string]map[string]uint32{
			"client": {"ENABLE_PUSH": 0, "INITIAL_WINDOW_SIZE": 4194304, "MAX_HEADER_LIST_SIZE": 10485760},
			"server": {"MAX_CONCURRENT_STREAMS": 250, "INITIAL_WINDOW_SIZE": 0, "MAX_FRAME_SIZE": 16384},
		},
		Counts: map[string]map[string]int{
			"send": {"SETTINGS": 3, "HEADERS": 1, "PING": 29990, "WINDOW_UPDATE": 1},
			"recv": {"SETTINGS": 81, "PING": 29900, "RST_STREAM": 20, "GOAWAY": 1, "DATA": 3},
		},
		FramesTotal: 60000,
		GoAway:      &probe.H2GoAway{AtMS: 2400.25, Code: "ENHANCE_YOUR_CALM", LastStream: 1, Debug: "calm down", Streams: 1},
		Exhausted:   map[string]int{"send": 3},
	}
	at := 10.0
	add := func(f probe.H2Frame) {
		at += 1.137
		f.AtMS = at
		h.Frames = append(h.Frames, f)
	}
	add(probe.H2Frame{Dir: probe.H2Send, Type: "SETTINGS", Len: 18, Settings: h.Settings["client"]})
	add(probe.H2Frame{Dir: probe.H2Send, Type: "WINDOW_UPDATE", Len: 4, Window: 1073741824})
	add(probe.H2Frame{Dir: probe.H2Send, Type: "HEADERS", Stream: 1, Len: 48, Flags: "END_STREAM|END_HEADERS"})
	add(probe.H2Frame{Dir: probe.H2Recv, Type: "SETTINGS", Len: 18, Settings: h.Settings["server"]})
	for i := 0; len(h.Frames) < 2099; i++ {
		switch {
		case i%97 == 50 && i < 97*20:
			add(probe.H2Frame{Dir: probe.H2Recv, Type: "RST_STREAM", Stream: uint32(2*i + 1), Len: 4, ErrCode: "PROTOCOL_ERROR"})
		case i%23 == 7 && i < 23*80:
			add(probe.H2Frame{Dir: probe.H2Recv, Type: "SETTINGS", Len: 6, Settings: map[string]uint32{"HEADER_TABLE_SIZE": uint32(i)}})
		case i == 1000:
			add(probe.H2Frame{Dir: probe.H2Recv, Type: "GOAWAY", Len: 17, ErrCode: "ENHANCE_YOUR_CALM", LastStream: 1, Debug: "calm down"})
		case i%2 == 0:
			add(probe.H2Frame{Dir: probe.H2Recv, Type: "PING", Len: 8})
		default:
			add(probe.H2Frame{Dir: probe.H2Send, Type: "PING", Len: 8, Flags: "ACK", PingRTTMS: 0.412})
		}
	}
	add(probe.H2Frame{Dir: probe.H2Send, Type: "GOAWAY", Len: 8, ErrCode: "NO_ERROR"})
	h.FramesDropped = h.FramesTotal - len(h.Frames)
	for i := range 256 {
		h.Streams = append(h.Streams, probe.H2Stream{ID: uint32(2*i + 1), Status: 200, RecvFrames: 3, RecvBytes: 16384,
			SendWindow: 65535, RecvWindow: 4194304, SentEnd: true, Reset: "PROTOCOL_ERROR", ResetDir: probe.H2Recv, ResetAtMS: 100 + float64(i)})
	}
	for i := range 256 {
		h.Stalls = append(h.Stalls, probe.H2Stall{Dir: probe.H2Send, Stream: 1, StartMS: 100 + float64(i)*200,
			DurationMS: 150.5, InitialWindow: 0, ConnWindow: 65535, MaxFrameSize: 16384})
	}
	return h
}

func countTypes(frames []probe.H2Frame) map[string]int {
	n := map[string]int{}
	for _, f := range frames {
		n[f.Type]++
	}
	return n
}

func TestStoredH2Bounded(t *testing.T) {
	s, _ := openTemp(t)
	r := httpsResult(base, 1, 2, 3, 4)
	r.H2 = hostileH2()
	before := mustJSON(t, r)
	full := mustJSON(t, r.H2)
	orig := r.H2.Frames
	write(t, s, Record{Target: "api", Module: "web", Result: r})

	// The caller's Result is untouched: metrics and the latest run use it.
	if after := mustJSON(t, r); !bytes.Equal(before, after) {
		t.Fatal("Write changed the caller's Result")
	}
	if len(r.H2.Frames) != 2100 || &r.H2.Frames[0] != &orig[0] {
		t.Fatalf("the caller's frames changed: %d", len(r.H2.Frames))
	}

	stored := storedH2(t, s, "api")
	t.Logf("h2 block: %d bytes in the Result, %d bytes stored", len(full), stored)
	if stored > 20_000 {
		t.Errorf("stored h2 block is %d bytes, want ≤ 20,000", stored)
	}

	sr, ok, err := s.Latest(ctx, "api")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	h, in := sr.Result.H2, r.H2
	if got := len(h.Frames) + h.FramesDropped; got != in.FramesTotal || h.FramesTotal != in.FramesTotal {
		t.Errorf("kept %d + dropped %d = %d, total %d; want the total %d", len(h.Frames), h.FramesDropped, got, h.FramesTotal, in.FramesTotal)
	}
	// The first and last frames, in wire order.
	sameJSON(t, h.Frames[:storedHeadFrames], in.Frames[:storedHeadFrames])
	sameJSON(t, h.Frames[len(h.Frames)-storedTailFrames:], in.Frames[len(in.Frames)-storedTailFrames:])
	for i := 1; i < len(h.Frames); i++ {
		if h.Frames[i].AtMS < h.Frames[i-1].AtMS {
			t.Fatalf("frame %d at %v before frame %d at %v", i, h.Frames[i].AtMS, i-1, h.Frames[i-1].AtMS)
		}
	}
	// Every RST_STREAM and GOAWAY; SETTINGS with the room left.
	kept, all := countTypes(h.Frames), countTypes(in.Frames)
	for _, typ := range []string{"RST_STREAM", "GOAWAY"} {
		if kept[typ] != all[typ] {
			t.Errorf("%d of %d %s frames kept, want all", kept[typ], all[typ], typ)
		}
	}
	notable := kept["RST_STREAM"] + kept["GOAWAY"] + kept["SETTINGS"]
	if len(h.Frames) != storedHeadFrames+storedTailFrames+storedNotableFrames || kept["SETTINGS"] == 0 || notable < storedNotableFrames {
		t.Errorf("kept %d frames %v", len(h.Frames), kept)
	}
	// Summaries whole, lists bounded.
	sameJSON(t, h.Counts, in.Counts)
	sameJSON(t, h.Settings, in.Settings)
	sameJSON(t, h.GoAway, in.GoAway)
	sameJSON(t, h.Exhausted, in.Exhausted)
	sameJSON(t, h.Stalls, in.Stalls[:storedStalls])
	sameJSON(t, h.Streams, in.Streams[:storedStreams])
}

// A timeline within the bounds is stored as it is.
func TestStoredH2Small(t *testing.T) {
	s, _ := openTemp(t)
	r := httpsResult(base, 1, 2, 3, 4)
	h := hostileH2()
	h.Frames = h.Frames[:storedHeadFrames+storedTailFrames+storedNotableFrames]
	h.FramesTotal, h.FramesDropped = len(h.Frames), 0
	h.Stalls, h.Streams = h.Stalls[:3], h.Streams[:2]
	r.H2 = h
	if compactH2(h) != h {
		t.Error("compactH2 copied a timeline that needs no trimming")
	}
	write(t, s, Record{Target: "api", Module: "web", Result: r})
	sr, _, err := s.Latest(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, sr.Result, r)
}

// A server naming thousands of settings, or sending long GOAWAY debug
// data, does not make the stored block grow with it.
func TestStoredH2FieldBounds(t *testing.T) {
	s, _ := openTemp(t)
	flood := map[string]uint32{"INITIAL_WINDOW_SIZE": 0, "MAX_FRAME_SIZE": 16384}
	for i := range 2000 {
		flood[fmt.Sprintf("UNKNOWN_SETTING_%d", 100+i)] = 1
	}
	debug := strings.Repeat(`<\x01é`, 40) + "…" // as the tap cuts it at 256 bytes
	h := &probe.H2Info{
		Settings:    map[string]map[string]uint32{"client": {"ENABLE_PUSH": 0}, "server": flood},
		FramesTotal: 3,
		Frames: []probe.H2Frame{
			{AtMS: 1, Dir: probe.H2Send, Type: "SETTINGS", Settings: map[string]uint32{"ENABLE_PUSH": 0}},
			{AtMS: 2, Dir: probe.H2Recv, Type: "SETTINGS", Len: 6 * len(flood), Settings: flood},
			{AtMS: 3, Dir: probe.H2Recv, Type: "GOAWAY", ErrCode: "ENHANCE_YOUR_CALM", Debug: debug},
		},
		GoAway: &probe.H2GoAway{AtMS: 3, Code: "ENHANCE_YOUR_CALM", Debug: debug},
	}
	r := httpsResult(base, 1, 2, 3, 4)
	r.H2 = h
	before := mustJSON(t, r)
	write(t, s, Record{Target: "api", Module: "web", Result: r})
	if !bytes.Equal(before, mustJSON(t, r)) || len(flood) != 2002 {
		t.Fatal("Write changed the caller's Result")
	}
	stored := storedH2(t, s, "api")
	t.Logf("h2 block: %d bytes in the Result, %d bytes stored", len(mustJSON(t, h)), stored)
	if stored > 2_000 {
		t.Errorf("stored h2 block is %d bytes", stored)
	}
	sr, _, err := s.Latest(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	got := sr.Result.H2
	srv := got.Settings["server"]
	if len(srv) != storedSettings || srv["INITIAL_WINDOW_SIZE"] != 0 || srv["MAX_FRAME_SIZE"] != 16384 {
		t.Errorf("%d server settings stored, want %d with the standard ones among them", len(srv), storedSettings)
	}
	if _, ok := srv["INITIAL_WINDOW_SIZE"]; !ok {
		t.Error("INITIAL_WINDOW_SIZE left out")
	}
	sameJSON(t, got.Settings["client"], h.Settings["client"])
	if n := len(got.Frames[1].Settings); n != storedFrameSettings {
		t.Errorf("SETTINGS frame lists %d settings, want %d", n, storedFrameSettings)
	}
	if d := got.Frames[2].Debug; len(d) > storedFrameDebug+len("…") || !strings.HasSuffix(d, "…") || !utf8.ValidString(d) ||
		!strings.HasPrefix(debug, strings.TrimSuffix(d, "…")) {
		t.Errorf("frame debug %q, want a cut of %q", d, debug)
	}
	sameJSON(t, got.GoAway, h.GoAway) // the connection's GOAWAY keeps what the tap kept
	if len(got.Frames) != 3 || got.FramesDropped != 0 {
		t.Errorf("%d frames, %d dropped; want all 3 kept", len(got.Frames), got.FramesDropped)
	}
}

// storedH2 is the size of the HTTP/2 block of target's latest stored run,
// as JSON.
func storedH2(t *testing.T, s *Store, target string) int {
	t.Helper()
	sr, ok, err := s.Latest(ctx, target)
	if err != nil || !ok || !sr.Full {
		t.Fatalf("latest %s: %v %v (full %v)", target, ok, err, sr.Full)
	}
	return len(mustJSON(t, sr.Result.H2))
}
