package h2tap

import (
	"reflect"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// windows is the accounting state checked after each frame.
type windows struct {
	connSend, connRecv int64 // connection windows of pathlens (send) and the server (recv)
	s1Send, s1Recv     int64 // stream 1's
}

// TestWindowAccounting walks a hand-computed frame sequence through the
// accounting and checks every window after every frame, then the stalls.
// Numbers: every window starts at 65535 (RFC 9113 §6.9.2).
func TestWindowAccounting(t *testing.T) {
	type step struct {
		f    probe.H2Frame
		want windows
		note string
	}
	const big = 1 << 20
	steps := []step{
		{probe.H2Frame{AtMS: 0, Dir: "send", Type: "SETTINGS", Settings: map[string]uint32{"INITIAL_WINDOW_SIZE": big}},
			windows{65535, 65535, 0, 0}, "pathlens's settings: the server's stream windows will start at 1 MiB; no stream yet"},
		{probe.H2Frame{AtMS: 0, Dir: "send", Type: "WINDOW_UPDATE", Window: 1000000},
			windows{65535, 1065535, 0, 0}, "connection WINDOW_UPDATE grants the server 1,000,000 more"},
		{probe.H2Frame{AtMS: 1, Dir: "send", Type: "HEADERS", Stream: 1, Flags: "END_HEADERS"},
			windows{65535, 1065535, 65535, big}, "stream 1 opens: the server sent no SETTINGS yet, so pathlens gets 65535"},
		{probe.H2Frame{AtMS: 2, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
			windows{49151, 1065535, 49151, big}, "DATA takes from both windows"},
		{probe.H2Frame{AtMS: 3, Dir: "recv", Type: "SETTINGS", Settings: map[string]uint32{"INITIAL_WINDOW_SIZE": 32768}},
			windows{49151, 1065535, 16384, big}, "server's INITIAL_WINDOW_SIZE 32768: stream windows move by 32768-65535 = -32767; the connection window does not"},
		{probe.H2Frame{AtMS: 4, Dir: "send", Type: "DATA", Stream: 1, Len: 16384},
			windows{32767, 1065535, 0, big}, "stream window exhausted: a stall may start (4 ms)"},
		{probe.H2Frame{AtMS: 254, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 10000},
			windows{32767, 1065535, 10000, big}, "reopened at 254 ms"},
		{probe.H2Frame{AtMS: 255, Dir: "send", Type: "DATA", Stream: 1, Len: 10000},
			windows{22767, 1065535, 0, big}, "more DATA confirms the 250 ms stall; exhausted again at 255"},
		{probe.H2Frame{AtMS: 300, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 50},
			windows{22767, 1065535, 50, big}, "reopened after 45 ms"},
		{probe.H2Frame{AtMS: 301, Dir: "send", Type: "DATA", Stream: 1, Len: 50},
			windows{22717, 1065535, 0, big}, "45 ms is under the threshold: not a stall; exhausted again at 301"},
		{probe.H2Frame{AtMS: 500, Dir: "recv", Type: "SETTINGS", Settings: map[string]uint32{"INITIAL_WINDOW_SIZE": 65535}},
			windows{22717, 1065535, 32767, big}, "SETTINGS back to 65535 reopens the stream (+32767) at 500"},
		{probe.H2Frame{AtMS: 501, Dir: "send", Type: "DATA", Stream: 1, Len: 300, Flags: "END_STREAM|PADDED"},
			windows{22417, 1065535, 32467, big}, "padding counts; the 199 ms stall is confirmed; the request ends"},
		{probe.H2Frame{AtMS: 510, Dir: "recv", Type: "HEADERS", Stream: 1, Flags: "END_HEADERS", Status: 200},
			windows{22417, 1065535, 32467, big}, ""},
		{probe.H2Frame{AtMS: 520, Dir: "recv", Type: "DATA", Stream: 1, Len: 1000000},
			windows{22417, 65535, 32467, 48576}, ""},
		{probe.H2Frame{AtMS: 530, Dir: "recv", Type: "DATA", Stream: 1, Len: 48576},
			windows{22417, 16959, 32467, 0}, "the server exhausts its stream window at 530"},
		{probe.H2Frame{AtMS: 560, Dir: "send", Type: "WINDOW_UPDATE", Stream: 1, Window: 100000},
			windows{22417, 16959, 32467, 100000}, "reopened after 30 ms"},
		{probe.H2Frame{AtMS: 561, Dir: "recv", Type: "DATA", Stream: 1, Len: 1},
			windows{22417, 16958, 32467, 99999}, "30 ms: no stall"},
		{probe.H2Frame{AtMS: 600, Dir: "recv", Type: "DATA", Stream: 1, Len: 16958},
			windows{22417, 0, 32467, 83041}, "the connection window runs dry at 600 and never reopens"},
	}
	var f flow
	f.init()
	for i, st := range steps {
		ev, err := eventOf(&st.f)
		if err != nil {
			t.Fatal(err)
		}
		f.on(ev)
		got := windows{connSend: f.conn[dirSend], connRecv: f.conn[dirRecv]}
		if s := f.streams[1]; s != nil {
			got.s1Send, got.s1Recv = s.win[dirSend], s.win[dirRecv]
		}
		if got != st.want {
			t.Fatalf("step %d (%s %s %s): windows %+v, want %+v", i, st.f.Dir, st.f.Type, st.note, got, st.want)
		}
	}
	want := []probe.H2Stall{
		{Dir: "send", Stream: 1, StartMS: 4, DurationMS: 250, InitialWindow: 32768, ConnWindow: 65535, MaxFrameSize: 16384},
		{Dir: "send", Stream: 1, StartMS: 301, DurationMS: 199, InitialWindow: 32768, ConnWindow: 65535, MaxFrameSize: 16384},
		{Dir: "recv", Stream: 0, StartMS: 600, DurationMS: 400, Ongoing: true, InitialWindow: big, ConnWindow: 1065535, MaxFrameSize: 16384},
	}
	if got := f.stallsAt(fromMS(1000)); !reflect.DeepEqual(got, want) {
		t.Errorf("stalls:\n got %+v\nwant %+v", got, want)
	}
	if f.exhausted != [2]int{3, 2} {
		t.Errorf("exhausted = %v, want [3 2]", f.exhausted)
	}
	sum := f.summaries()
	wantSum := []probe.H2Stream{{ID: 1, Status: 200, SendWindow: 32768, RecvWindow: big, SentFrames: 5, SentBytes: 16384*2 + 10000 + 50 + 300,
		RecvFrames: 4, RecvBytes: 1000000 + 48576 + 1 + 16958, SentEnd: true}}
	if !reflect.DeepEqual(sum, wantSum) {
		t.Errorf("streams:\n got %+v\nwant %+v", sum, wantSum)
	}

	// The same sequence through the exported Account (a JSON timeline).
	frames := make([]probe.H2Frame, len(steps))
	for i, st := range steps {
		frames[i] = st.f
	}
	got, err := Account(frames, 1000)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Account: %+v, %v", got, err)
	}
	// Up to 650 ms the connection stall is only 50 ms old: not yet a stall.
	if got, _ := Account(frames, 650); len(got) != 2 {
		t.Errorf("Account at 650 ms: %+v, want the two send stalls", got)
	}
}

// TestStallEndings: what ends a wait, and what shows it was no wait at all.
func TestStallEndings(t *testing.T) {
	open := []probe.H2Frame{
		{AtMS: 0, Dir: "recv", Type: "SETTINGS"},
		{AtMS: 1, Dir: "send", Type: "HEADERS", Stream: 1, Flags: "END_HEADERS"},
		{AtMS: 2, Dir: "send", Type: "DATA", Stream: 1, Len: 65535}, // both windows exhausted
	}
	with := func(more ...probe.H2Frame) []probe.H2Frame {
		return append(append([]probe.H2Frame{}, open...), more...)
	}
	tests := []struct {
		name   string
		frames []probe.H2Frame
		end    float64
		want   []probe.H2Stall
	}{
		{"empty END_STREAM DATA: the body fit exactly, nothing waited",
			with(probe.H2Frame{AtMS: 3, Dir: "send", Type: "DATA", Stream: 1, Flags: "END_STREAM"}), 1000, nil},
		{"trailers end the stream: nothing waited",
			with(probe.H2Frame{AtMS: 3, Dir: "send", Type: "HEADERS", Stream: 1, Flags: "END_STREAM|END_HEADERS"}), 1000, nil},
		{"never reopened, stream open: ongoing to the end, held by the connection window", open, 1000, []probe.H2Stall{
			{Dir: "send", Stream: 0, StartMS: 2, DurationMS: 998, Ongoing: true, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
		{"stream reopened, connection still closed", with(
			probe.H2Frame{AtMS: 150, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 1 << 20}), 1000, []probe.H2Stall{
			{Dir: "send", Stream: 0, StartMS: 2, DurationMS: 998, Ongoing: true, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
		{"the connection update reopens it last: the connection held it", with(
			probe.H2Frame{AtMS: 150, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 1 << 20},
			probe.H2Frame{AtMS: 300, Dir: "recv", Type: "WINDOW_UPDATE", Window: 1 << 20},
			probe.H2Frame{AtMS: 301, Dir: "send", Type: "DATA", Stream: 1, Len: 10, Flags: "END_STREAM"}), 1000, []probe.H2Stall{
			{Dir: "send", Stream: 0, StartMS: 2, DurationMS: 298, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
		{"reset while blocked: the wait ends at the reset", with(
			probe.H2Frame{AtMS: 502, Dir: "send", Type: "RST_STREAM", Stream: 1, ErrCode: "CANCEL"}), 1000, []probe.H2Stall{
			{Dir: "send", Stream: 0, StartMS: 2, DurationMS: 500, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
		{"reopened but nothing more sent: no stall", with(
			probe.H2Frame{AtMS: 400, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 100},
			probe.H2Frame{AtMS: 400, Dir: "recv", Type: "WINDOW_UPDATE", Window: 100}), 1000, nil},
		{"connection reopened, stream still closed: the stream window holds it", with(
			probe.H2Frame{AtMS: 150, Dir: "recv", Type: "WINDOW_UPDATE", Window: 1 << 20}), 1000, []probe.H2Stall{
			{Dir: "send", Stream: 1, StartMS: 2, DurationMS: 998, Ongoing: true, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
		{"exactly 100 ms is not over the threshold", with(
			probe.H2Frame{AtMS: 102, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 100},
			probe.H2Frame{AtMS: 102, Dir: "recv", Type: "WINDOW_UPDATE", Window: 100},
			probe.H2Frame{AtMS: 103, Dir: "send", Type: "DATA", Stream: 1, Len: 100}), 103, nil},
		{"100.5 ms is", with(
			probe.H2Frame{AtMS: 50, Dir: "recv", Type: "WINDOW_UPDATE", Window: 100},
			probe.H2Frame{AtMS: 102.5, Dir: "recv", Type: "WINDOW_UPDATE", Stream: 1, Window: 100},
			probe.H2Frame{AtMS: 103, Dir: "send", Type: "DATA", Stream: 1, Len: 50, Flags: "END_STREAM"}), 103, []probe.H2Stall{
			{Dir: "send", Stream: 1, StartMS: 2, DurationMS: 100.5, InitialWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Account(tc.frames, tc.end)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("stalls:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, err := Account([]probe.H2Frame{{Dir: "up", Type: "DATA"}}, 0); err == nil {
		t.Error("Account accepted direction \"up\"")
	}
	if _, err := Account([]probe.H2Frame{{Dir: "send", Type: "BOGUS"}}, 0); err == nil {
		t.Error("Account accepted type BOGUS")
	}
}
