package probe

// H2 directions: frames and stalls are seen from pathlens (the client).
const (
	H2Send = "send" // client → server
	H2Recv = "recv" // server → client
)

// H2Info is what the HTTP/2 frame tap (probe/h2tap) saw on one connection
// (docs/result.md `h2`). Times are milliseconds relative to Result.StartedAt.
// Everything is bounded: past the tap's frame limit frames are counted in
// Counts and FramesDropped but not kept.
type H2Info struct {
	// Settings holds the SETTINGS each side announced, latest value per
	// setting: {"client": {"INITIAL_WINDOW_SIZE": 4194304, …}, "server": {…}}.
	// A setting absent from a side's map was never sent (its RFC 9113
	// default applies: INITIAL_WINDOW_SIZE 65535, MAX_FRAME_SIZE 16384).
	Settings map[string]map[string]uint32 `json:"settings"`
	// Frames is the timeline in wire order (bounded).
	Frames []H2Frame `json:"frames"`
	// Stalls are flow-control waits over 100 ms.
	Stalls []H2Stall `json:"stalls"`
	// FramesTotal counts every frame parsed, both directions;
	// FramesDropped those not kept in Frames.
	FramesTotal   int `json:"frames_total"`
	FramesDropped int `json:"frames_dropped,omitempty"`
	// Counts is frames per type per direction: {"send": {"DATA": 3}, "recv": {…}}.
	Counts map[string]map[string]int `json:"counts,omitempty"`
	// Streams summarises each stream (bounded), in order of first frame.
	Streams []H2Stream `json:"streams,omitempty"`
	// GoAway is the last GOAWAY the server sent on its own (nil when none;
	// one that answers pathlens's own GOAWAY, as it closes, does not count).
	GoAway *H2GoAway `json:"goaway,omitempty"`
	// Exhausted counts DATA frames that left the sender's connection or
	// stream window at zero, per direction ("send": pathlens ran out of
	// the server's window; "recv": the server ran out of pathlens's),
	// however short the wait that followed.
	Exhausted map[string]int `json:"window_exhausted,omitempty"`
	// ParseError is set when the tap stopped parsing a direction (a frame
	// larger than the receiver allows, or a malformed frame); the bytes
	// still flowed unchanged. ParseErrors counts such events.
	ParseError  string `json:"parse_error,omitempty"`
	ParseErrors int    `json:"parse_errors,omitempty"`
}

// H2Frame is one frame of the timeline. Fields that do not apply to the
// frame type are zero and omitted.
type H2Frame struct {
	AtMS   float64 `json:"at_ms"`
	Dir    string  `json:"dir"`  // "send" (client → server) or "recv"
	Type   string  `json:"type"` // DATA, HEADERS, SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY, PING, …
	Stream uint32  `json:"stream"`
	Len    int     `json:"len"`             // payload length (padding included)
	Flags  string  `json:"flags,omitempty"` // e.g. "END_STREAM|END_HEADERS", "ACK"
	// ErrCode is the decoded code of RST_STREAM and GOAWAY, e.g. INTERNAL_ERROR.
	ErrCode string `json:"err_code,omitempty"`
	// Window is a WINDOW_UPDATE's increment.
	Window uint32 `json:"window,omitempty"`
	// LastStream and Debug are a GOAWAY's last stream id and debug data (truncated).
	LastStream uint32 `json:"last_stream,omitempty"`
	Debug      string `json:"debug,omitempty"`
	// Settings are a SETTINGS frame's values by name.
	Settings map[string]uint32 `json:"settings,omitempty"`
	// Status is the :status of a response HEADERS frame, when decoded.
	Status int `json:"status,omitempty"`
	// PingRTTMS is set on a PING ACK: time since the PING it answers.
	PingRTTMS float64 `json:"ping_rtt_ms,omitempty"`
}

// H2Stall is a flow-control wait: a sender with data to send and a zero
// (or negative) window for over 100 ms.
type H2Stall struct {
	// Dir is "send" when pathlens waited on the server's window (upload),
	// "recv" when the server waited on pathlens's (download).
	Dir string `json:"dir"`
	// Stream is the stream whose window ran dry, 0 for the connection window.
	Stream     uint32  `json:"stream"`
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	// Ongoing is true when the window had not reopened when the timeline ended.
	Ongoing bool `json:"ongoing,omitempty"`
	// InitialWindow is the receiver's SETTINGS_INITIAL_WINDOW_SIZE in force
	// (65535 when it sent none); ConnWindow the largest connection window
	// the receiver had granted so far (65535 plus its connection
	// WINDOW_UPDATEs, minus nothing: the peak available).
	InitialWindow uint32 `json:"initial_window"`
	ConnWindow    int64  `json:"conn_window"`
	// MaxFrameSize is the receiver's SETTINGS_MAX_FRAME_SIZE in force.
	MaxFrameSize uint32 `json:"max_frame_size,omitempty"`
}

// H2Stream summarises one stream.
type H2Stream struct {
	ID uint32 `json:"id"`
	// Status is the response :status when decoded.
	Status int `json:"status,omitempty"`
	// DATA frames and payload bytes (padding included) each way.
	SentFrames int   `json:"sent_frames"`
	SentBytes  int64 `json:"sent_bytes"`
	RecvFrames int   `json:"recv_frames"`
	RecvBytes  int64 `json:"recv_bytes"`
	// SendWindow is the server's initial stream window for what pathlens
	// sends on this stream, RecvWindow pathlens's for what the server
	// sends: the receiver's SETTINGS_INITIAL_WINDOW_SIZE in force when the
	// stream opened, or in its first SETTINGS when the stream opened
	// before that arrived (65535 when it sent none).
	SendWindow uint32 `json:"send_window"`
	RecvWindow uint32 `json:"recv_window"`
	// SentEnd / RecvEnd: that side ended the stream (END_STREAM).
	SentEnd bool `json:"sent_end,omitempty"`
	RecvEnd bool `json:"recv_end,omitempty"`
	// Reset is the RST_STREAM code, ResetDir who sent it ("send"/"recv"),
	// ResetAtMS when.
	Reset     string  `json:"reset,omitempty"`
	ResetDir  string  `json:"reset_dir,omitempty"`
	ResetAtMS float64 `json:"reset_at_ms,omitempty"`
}

// H2GoAway is a GOAWAY frame's content.
type H2GoAway struct {
	AtMS       float64 `json:"at_ms"`
	Code       string  `json:"code"`
	LastStream uint32  `json:"last_stream"`
	Debug      string  `json:"debug,omitempty"`
	// Streams is how many streams pathlens had opened by then.
	Streams int `json:"streams"`
	// Pending is how many of them the server had not finished (no
	// END_STREAM, no reset from it) when it sent the GOAWAY: 0 for a
	// server that closes the connection right after its responses
	// (nginx keepalive_timeout 0, a Go server without keep-alives).
	Pending int `json:"pending"`
}
