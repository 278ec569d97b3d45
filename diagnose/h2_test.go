package diagnose

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// h2Result is a healthy HTTP/2 probe with one stream.
func h2Result() *probe.Result {
	r := healthy()
	r.HTTP.Proto = "HTTP/2.0"
	r.H2 = &probe.H2Info{
		Settings: map[string]map[string]uint32{"client": {"INITIAL_WINDOW_SIZE": 4 << 20}, "server": {"INITIAL_WINDOW_SIZE": 65535}},
		Frames:   []probe.H2Frame{},
		Stalls:   []probe.H2Stall{},
		Streams: []probe.H2Stream{{ID: 1, Status: 200, RecvFrames: 1, RecvBytes: 1024, SentEnd: true, RecvEnd: true,
			SendWindow: 65535, RecvWindow: 4 << 20}},
	}
	return r
}

func TestH2Healthy(t *testing.T) {
	wantIDs(t, diag(t, h2Result()))
}

func TestH2FlowControlStall(t *testing.T) {
	tests := []struct {
		name     string
		stalls   []probe.H2Stall
		kind     string
		wantSumm []string
		wantEv   map[string]any
		phase    string
	}{
		{"upload, one stall", []probe.H2Stall{{Dir: "send", Stream: 1, StartMS: 70, DurationMS: 250.5, InitialWindow: 65535, ConnWindow: 1 << 20, MaxFrameSize: 16384}},
			"https", []string{"pathlens waited 250 ms", "server's flow-control window", "stream 1's window", "64 KiB"},
			map[string]any{"direction": "send", "stream": 1, "duration_ms": 250.5, "initial_window": 65535, "stalls": 1, "max_frame_size": 16384}, "request"},
		{"download, connection window, worst of three", []probe.H2Stall{
			{Dir: "recv", Stream: 0, StartMS: 100, DurationMS: 120, InitialWindow: 65535, ConnWindow: 65535},
			{Dir: "recv", Stream: 0, StartMS: 300, DurationMS: 900, InitialWindow: 65535, ConnWindow: 65535, Ongoing: true},
			{Dir: "recv", Stream: 3, StartMS: 250, DurationMS: 101, InitialWindow: 65535, ConnWindow: 65535},
		}, "https", []string{"the server waited 900 ms", "pathlens's flow-control window", "the connection window", "3 stalls, 1121 ms in all", "still closed"},
			map[string]any{"direction": "recv", "stream": 0, "duration_ms": 900, "stalls": 3, "total_stall_ms": 1121, "ongoing": true}, "transfer"},
		{"gRPC download is the stream phase", []probe.H2Stall{{Dir: "recv", Stream: 1, StartMS: 10, DurationMS: 150, InitialWindow: 65535}},
			"grpc", []string{"the server waited 150 ms"}, map[string]any{"direction": "recv"}, "stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h2Result()
			r.Kind = tc.kind
			r.H2.Stalls = tc.stalls
			fs := diag(t, r)
			f := findID(fs, IDH2FlowControlStall)
			if f == nil {
				t.Fatalf("no %s in %v", IDH2FlowControlStall, ids(fs))
			}
			if f.Severity != probe.SeverityWarning || f.Phase != tc.phase {
				t.Errorf("severity %s phase %s, want warning %s", f.Severity, f.Phase, tc.phase)
			}
			for _, s := range tc.wantSumm {
				if !strings.Contains(f.Summary, s) {
					t.Errorf("summary %q lacks %q", f.Summary, s)
				}
			}
			wantEvidence(t, f, tc.wantEv)
		})
	}
	// No stalls, no finding.
	r := h2Result()
	r.H2.Stalls = []probe.H2Stall{}
	if f := findID(diag(t, r), IDH2FlowControlStall); f != nil {
		t.Errorf("finding without stalls: %+v", f)
	}
}

func TestH2RSTStream(t *testing.T) {
	truncated := func(r *probe.Result) {
		r.Success = false
		r.HTTP.Truncated, r.HTTP.BodyBytes, r.HTTP.ContentLength = true, 49152, 1048576
		r.Error = &probe.ErrorInfo{Class: probe.ClassHTTP, Phase: "transfer", Cause: "truncated",
			Message: "body ended after 49152 bytes of 1048576: stream error: stream ID 1; INTERNAL_ERROR; received from peer"}
	}
	tests := []struct {
		name   string
		stream probe.H2Stream
		mod    func(*probe.Result)
		want   []string // finding IDs
		summ   string
		phase  string
		ev     map[string]any
	}{
		{"mid-response INTERNAL_ERROR replaces HTTP_BODY_TRUNCATED",
			probe.H2Stream{ID: 1, Status: 200, RecvFrames: 3, RecvBytes: 49152, SentEnd: true, Reset: "INTERNAL_ERROR", ResetDir: "recv", ResetAtMS: 80},
			truncated, []string{IDH2RSTStream},
			"the server reset stream 1 with INTERNAL_ERROR after 3 DATA frames (48 KiB) of the response: the body stopped at 49152 of 1048576 bytes",
			"transfer", map[string]any{"code": "INTERNAL_ERROR", "stream": 1, "data_frames": 3, "data_bytes": 49152, "status": 200, "content_length": 1048576}},
		{"before headers: replaces HTTP_PROTOCOL_ERROR",
			probe.H2Stream{ID: 1, SentEnd: true, Reset: "REFUSED_STREAM", ResetDir: "recv", ResetAtMS: 70},
			func(r *probe.Result) {
				r.Success = false
				r.HTTP.Status = 0
				r.Error = &probe.ErrorInfo{Class: probe.ClassProtocol, Phase: "wait", Cause: "h2", Message: "stream error: stream ID 1; REFUSED_STREAM"}
			}, []string{IDH2RSTStream}, "with REFUSED_STREAM before any response", "wait", map[string]any{"code": "REFUSED_STREAM"}},
		{"after headers, before body", probe.H2Stream{ID: 1, Status: 200, Reset: "CANCEL", ResetDir: "recv"}, nil,
			[]string{IDH2RSTStream}, "after the response headers (status 200) and before any body", "transfer", nil},
		{"client's own CANCEL is no finding", probe.H2Stream{ID: 1, Status: 200, RecvFrames: 10, RecvBytes: 160000, Reset: "CANCEL", ResetDir: "send"}, nil,
			nil, "", "", nil},
		{"NO_ERROR after a complete response is no finding", probe.H2Stream{ID: 1, Status: 200, RecvEnd: true, Reset: "NO_ERROR", ResetDir: "recv"}, nil,
			nil, "", "", nil},
		{"NO_ERROR before the response ended is", probe.H2Stream{ID: 1, Status: 200, RecvFrames: 1, RecvBytes: 10, Reset: "NO_ERROR", ResetDir: "recv"}, nil,
			[]string{IDH2RSTStream}, "with NO_ERROR after 1 DATA frame (10 B)", "transfer", nil},
		{"gRPC: GRPC_STREAM_TRUNCATED takes precedence",
			probe.H2Stream{ID: 1, Status: 200, RecvFrames: 46, RecvBytes: 4830, Reset: "INTERNAL_ERROR", ResetDir: "recv"},
			func(r *probe.Result) {
				r.Kind = "grpc"
				r.HTTP = nil
				r.Success = false
				r.Error = &probe.ErrorInfo{Class: probe.ClassProtocol, Phase: "stream", Cause: "rst_stream", Message: "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"}
				r.GRPC = &probe.GRPCInfo{StatusCode: 13, StatusName: "INTERNAL", StatusOrigin: probe.GRPCStatusClient, Messages: 46,
					ExpectMessages: 100, NoTrailers: true, ResetCode: "INTERNAL_ERROR", HeadersReceived: true, Method: "/lab.Stream/Stream"}
			}, []string{IDGRPCStreamTruncated}, "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h2Result()
			r.H2.Streams = []probe.H2Stream{tc.stream}
			if tc.mod != nil {
				tc.mod(r)
			}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := findID(fs, IDH2RSTStream)
			if f == nil {
				return
			}
			if f.Severity != probe.SeverityCritical || f.Phase != tc.phase {
				t.Errorf("severity %s phase %s, want critical %s", f.Severity, f.Phase, tc.phase)
			}
			if !strings.Contains(f.Summary, tc.summ) {
				t.Errorf("summary %q lacks %q", f.Summary, tc.summ)
			}
			wantEvidence(t, f, tc.ev)
		})
	}
}

func TestH2GoAway(t *testing.T) {
	r := h2Result()
	// Mid-response (the stream still owed its body): a drain.
	r.H2.GoAway = &probe.H2GoAway{AtMS: 83.5, Code: "NO_ERROR", LastStream: 1, Debug: "draining", Streams: 1, Pending: 1}
	fs := diag(t, r)
	wantIDs(t, fs, IDH2GoAway)
	f := &fs[0]
	if f.Severity != probe.SeverityWarning || f.Phase != "transfer" {
		t.Errorf("severity %s phase %s", f.Severity, f.Phase)
	}
	if want := `the server sent GOAWAY (NO_ERROR, last stream 1) with debug data "draining": the connection cannot take new requests`; f.Summary != want {
		t.Errorf("summary %q\nwant    %q", f.Summary, want)
	}
	if !strings.Contains(f.Advice, "graceful") {
		t.Errorf("advice: %s", f.Advice)
	}
	wantEvidence(t, f, map[string]any{"code": "NO_ERROR", "last_stream": 1, "debug": "draining", "at_ms": 83.5, "streams": 1})

	// An error code, and streams above the last one: say they were not processed.
	r.H2.GoAway = &probe.H2GoAway{AtMS: 63, Code: "ENHANCE_YOUR_CALM", LastStream: 1, Streams: 2}
	f = findID(diag(t, r), IDH2GoAway)
	if f == nil || !strings.Contains(f.Summary, "streams above it were not processed") || f.Phase != "wait" ||
		!strings.Contains(f.Advice, "ENHANCE_YOUR_CALM") {
		t.Errorf("got %+v", f)
	}
}

// An HTTP/2 server that sends GOAWAY (NO_ERROR) as soon as its only
// response is done closes after every response, as an HTTP/1 server with
// Connection: close: HTTP_NO_KEEPALIVE (info), not the H2_GOAWAY warning.
func TestH2GoAwayAfterResponse(t *testing.T) {
	after := func(mod func(*probe.Result)) *probe.Result {
		r := h2Result()
		r.HTTP.KeepAlive = false
		r.H2.GoAway = &probe.H2GoAway{AtMS: 12.25, Code: "NO_ERROR", LastStream: 1, Streams: 1, Pending: 0}
		if mod != nil {
			mod(r)
		}
		return r
	}
	fs := diag(t, after(nil))
	wantIDs(t, fs, IDHTTPNoKeepAlive)
	f := &fs[0]
	if f.Severity != probe.SeverityInfo || f.Phase != probe.PhaseTransfer {
		t.Errorf("severity %s phase %s, want info transfer", f.Severity, f.Phase)
	}
	if want := "the server closes the HTTP/2 connection after each response: GOAWAY (NO_ERROR) as soon as stream 1, the only one, " +
		"had been answered; every request pays a new TCP and TLS handshake"; f.Summary != want {
		t.Errorf("summary %q\nwant    %q", f.Summary, want)
	}
	if !strings.Contains(f.Advice, "keepalive_timeout 0") || !strings.Contains(f.Advice, "max_requests_per_connection") {
		t.Errorf("advice: %s", f.Advice)
	}
	wantEvidence(t, f, map[string]any{"proto": "HTTP/2.0", "status": 200, "goaway_code": "NO_ERROR", "after_stream": 1,
		"last_stream": 1, "streams": 1, "goaway_at_ms": 12.25})

	for _, tc := range []struct {
		name string
		mod  func(*probe.Result)
		want []string
	}{
		{"debug data goes with it", func(r *probe.Result) { r.H2.GoAway.Debug = "max requests" }, []string{IDHTTPNoKeepAlive}},
		{"an error code is the warning's", func(r *probe.Result) { r.H2.GoAway.Code = "INTERNAL_ERROR" }, []string{IDH2GoAway}},
		{"a response still owed: a drain", func(r *probe.Result) { r.H2.GoAway.Pending = 1 }, []string{IDH2GoAway}},
		{"a stream above the last one was refused", func(r *probe.Result) { r.H2.GoAway.Streams = 2 }, []string{IDH2GoAway}},
		{"before any stream", func(r *probe.Result) { r.H2.GoAway.Streams, r.H2.GoAway.LastStream = 0, 0 }, []string{IDH2GoAway}},
		{"no response", func(r *probe.Result) {
			r.HTTP.Status = 0
			*r = *failed(r, probe.ClassProtocol, "wait", "h2", "http2: server sent GOAWAY and closed the connection")
		}, []string{IDHTTPProtocolError, IDH2GoAway}},
		{"gRPC keeps the warning", func(r *probe.Result) {
			r.Kind, r.HTTP = "grpcs", nil
			r.GRPC = &probe.GRPCInfo{StatusOrigin: probe.GRPCStatusServer, StatusName: "OK", Health: true, HealthStatus: "SERVING"}
		}, []string{IDH2GoAway}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantIDs(t, diag(t, after(tc.mod)), tc.want...)
		})
	}
}

func TestH2SmallWindow(t *testing.T) {
	// Upload larger than the server's window, with a stall: warning.
	r := h2Result()
	r.H2.Streams[0].SentBytes = 1 << 20
	r.H2.Stalls = []probe.H2Stall{{Dir: "send", Stream: 1, StartMS: 70, DurationMS: 250, InitialWindow: 65535}}
	fs := diag(t, r)
	wantIDs(t, fs, IDH2FlowControlStall, IDH2SmallWindow)
	f := findID(fs, IDH2SmallWindow)
	if f.Severity != probe.SeverityWarning || f.Phase != "request" ||
		f.Summary != "the request body (1 MiB) is larger than the server's initial stream window (64 KiB): it cannot be sent without waiting for WINDOW_UPDATEs, and the sender stalled 250 ms on it" {
		t.Errorf("got %s %s %q", f.Severity, f.Phase, f.Summary)
	}
	wantEvidence(t, f, map[string]any{"direction": "send", "stream": 1, "size": 1 << 20, "initial_window": 65535, "stalled": true, "stall_ms": 250})

	// Download larger than pathlens's window, no stall: info.
	r = h2Result()
	r.H2.Streams[0].RecvBytes = 5 << 20
	fs = diag(t, r)
	wantIDs(t, fs, IDH2SmallWindow)
	if f := &fs[0]; f.Severity != probe.SeverityInfo || f.Phase != "transfer" || !strings.Contains(f.Summary, "response body (5 MiB) is larger than pathlens's initial stream window (4 MiB)") {
		t.Errorf("got %s %s %q", f.Severity, f.Phase, f.Summary)
	}

	// Exactly the window: fits.
	r = h2Result()
	r.H2.Streams[0].SentBytes = 65535
	wantIDs(t, diag(t, r))

	// gRPC: the largest message counts, not the stream.
	r = h2Result()
	r.Kind = "grpc"
	r.HTTP = nil
	r.H2.Streams[0].RecvBytes = 200000
	r.H2.Streams[0].RecvWindow = 65535
	r.GRPC = &probe.GRPCInfo{StatusOrigin: probe.GRPCStatusServer, Messages: 100, LargestMessage: 100, Method: "/x.Y/Z", TrailersReceived: true}
	wantIDs(t, diag(t, r))
	r.GRPC.LargestMessage = 65536
	fs = diag(t, r)
	wantIDs(t, fs, IDH2SmallWindow)
	if f := &fs[0]; f.Severity != probe.SeverityInfo || f.Phase != "stream" || !strings.Contains(f.Summary, "largest response message (64 KiB)") {
		t.Errorf("got %s %s %q", f.Severity, f.Phase, f.Summary)
	}
}

func findID(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

func TestFmtBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 65535: "64 KiB", 1536: "1.5 KiB", 1 << 20: "1 MiB", 3 << 30: "3 GiB"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
