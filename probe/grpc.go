package probe

// Origins of a gRPC status (GRPCInfo.StatusOrigin).
const (
	// GRPCStatusServer: the server sent trailers (grpc-status), or a
	// trailers-only response.
	GRPCStatusServer = "server"
	// GRPCStatusHTTP: the server answered with a non-gRPC HTTP response
	// (wrong :status or content-type); the code is grpc-go's mapping of it.
	GRPCStatusHTTP = "http"
	// GRPCStatusClient: no status came from the server; the client library
	// made one up (stream reset, connection lost, stream ended without
	// trailers, deadline, message too large).
	GRPCStatusClient = "client"
)

// MaxGRPCGaps bounds GRPCInfo.GapsMS: past it gaps are counted in
// GapsDropped but not kept (MaxGapMS still covers them).
const MaxGRPCGaps = 10000

// DefaultGRPCMaxRecv is the largest response message a grpc probe accepts.
const DefaultGRPCMaxRecv = 4 << 20

// GRPCInfo describes a grpc/grpcs probe's call (docs/result.md `grpc`).
type GRPCInfo struct {
	// StatusCode is the gRPC status code (0 OK); StatusName its canonical
	// name (OK, UNAVAILABLE, …) and StatusMessage the grpc-message.
	StatusCode    int    `json:"status_code"`
	StatusName    string `json:"status_name,omitempty"`
	StatusMessage string `json:"status_message,omitempty"`
	// StatusOrigin says where the status came from: server, http or client
	// (see the GRPCStatus* constants). Empty when the call never ended.
	StatusOrigin string `json:"status_origin,omitempty"`
	// Messages and Bytes count the response messages and their payload
	// bytes (without the 5-byte gRPC framing).
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// GapsMS holds the time between consecutive response messages, in
	// arrival order (bounded by MaxGRPCGaps; GapsDropped counts the rest).
	GapsMS      []float64 `json:"gaps_ms"`
	GapsDropped int       `json:"gaps_dropped,omitempty"`
	MaxGapMS    float64   `json:"max_gap_ms,omitempty"`
	// FirstMessageMS and LastMessageMS are the arrival times of the first
	// and last response message, relative to the start of the probe.
	FirstMessageMS float64 `json:"first_message_ms,omitempty"`
	LastMessageMS  float64 `json:"last_message_ms,omitempty"`
	// LargestMessage is the size of the largest response message in bytes.
	LargestMessage int `json:"largest_message,omitempty"`

	// Method is the :path called; Service the health-checked service
	// (health checks only; "" = the whole server). Authority is :authority.
	Method    string `json:"method"`
	Health    bool   `json:"health,omitempty"`
	Service   string `json:"service,omitempty"`
	Authority string `json:"authority,omitempty"`
	// HealthStatus is a health Check's answer: SERVING, NOT_SERVING,
	// SERVICE_UNKNOWN or UNKNOWN.
	HealthStatus string `json:"health_status,omitempty"`
	// RequestBytes is the size of the request message sent.
	RequestBytes int `json:"request_bytes"`
	// ExpectMessages is --expect-messages (0 = none).
	ExpectMessages int `json:"expect_messages,omitempty"`

	// HeadersReceived is true when response headers arrived; HeaderKeys
	// and TrailerKeys are the metadata keys (values are not kept: they may
	// carry tokens), ContentType the response content-type.
	HeadersReceived  bool     `json:"headers_received"`
	HeaderKeys       []string `json:"header_keys,omitempty"`
	ContentType      string   `json:"content_type,omitempty"`
	TrailersReceived bool     `json:"trailers_received"`
	TrailerKeys      []string `json:"trailer_keys,omitempty"`
	// NoTrailers is true when the stream ended (END_STREAM or reset)
	// without a grpc-status trailer.
	NoTrailers bool `json:"no_trailers,omitempty"`
	// ResetCode is the HTTP/2 error code of an RST_STREAM that ended the
	// stream, as grpc-go reported it (e.g. INTERNAL_ERROR, CANCEL).
	ResetCode string `json:"reset_code,omitempty"`

	// Window and ConnWindow are the initial HTTP/2 windows pathlens set
	// (--h2-window, --h2-conn-window); 0 = grpc-go's default with BDP
	// estimation.
	Window     int32 `json:"window,omitempty"`
	ConnWindow int32 `json:"conn_window,omitempty"`
	// MaxRecvBytes is the largest response message accepted.
	MaxRecvBytes int `json:"max_recv_bytes"`
}
