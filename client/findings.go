package client

import "github.com/pathlens/pathlens/probe"

// Library finding IDs. They are not probe findings (docs/findings.md):
// Audit emits the audit ones about a client's configuration, and the
// retry ones are attached to an attempt's Result. docs/library.md
// documents each; a test keeps the two in step.
const (
	IDNoTimeout               = "CLIENT_NO_TIMEOUT"
	IDNoDialTimeout           = "CLIENT_NO_DIAL_TIMEOUT"
	IDDialTimeoutUnknown      = "CLIENT_DIAL_TIMEOUT_UNKNOWN"
	IDNoTLSHandshakeTimeout   = "CLIENT_NO_TLS_HANDSHAKE_TIMEOUT"
	IDNoResponseHeaderTimeout = "CLIENT_NO_RESPONSE_HEADER_TIMEOUT"
	IDNoIdleConnTimeout       = "CLIENT_NO_IDLE_CONN_TIMEOUT"
	IDKeepAlivesDisabled      = "CLIENT_KEEPALIVES_DISABLED"
	IDSmallIdlePool           = "CLIENT_SMALL_IDLE_POOL"
	IDInsecureSkipVerify      = "CLIENT_INSECURE_SKIP_VERIFY"
	IDH2Disabled              = "CLIENT_H2_DISABLED"
	IDProxyFromEnvironment    = "CLIENT_PROXY_FROM_ENVIRONMENT"
	IDTransportUnknown        = "CLIENT_TRANSPORT_UNKNOWN"

	IDRetry            = "CLIENT_RETRY"
	IDRetryAfterCapped = "CLIENT_RETRY_AFTER_CAPPED"
	IDRetryStopped     = "CLIENT_RETRY_STOPPED"
)

// Entry describes one library finding: its ID, severity ("warning/info"
// when it depends on the case), the phase it concerns, where it comes
// from ("audit" or "request") and its meaning.
type Entry struct {
	ID       string
	Severity string
	Phase    string
	Source   string
	Title    string
}

var catalogue = []Entry{
	{IDNoTimeout, "warning", "any", "audit", "nothing bounds a whole request: Client.Timeout is 0 and the transport sets no deadline"},
	{IDNoDialTimeout, "warning", probe.PhaseConnect, "audit", "the transport dials with no timeout (only the OS gives up, after about two minutes on Linux)"},
	{IDDialTimeoutUnknown, "info", probe.PhaseConnect, "audit", "a custom DialContext/DialTLSContext hides whether dialing is bounded"},
	{IDNoTLSHandshakeTimeout, "warning", probe.PhaseTLS, "audit", "TLSHandshakeTimeout is 0: a server that stalls mid-handshake holds the request"},
	{IDNoResponseHeaderTimeout, "warning", probe.PhaseWait, "audit", "ResponseHeaderTimeout is 0: a server that never answers holds the request until the overall deadline, if any"},
	{IDNoIdleConnTimeout, "warning", probe.PhaseConnect, "audit", "IdleConnTimeout is 0: idle connections are kept until the server closes them, and requests race that close"},
	{IDKeepAlivesDisabled, "warning", probe.PhaseConnect, "audit", "DisableKeepAlives: every request pays DNS, connect and TLS again"},
	{IDSmallIdlePool, "warning", probe.PhaseConnect, "audit", "MaxIdleConnsPerHost ≤ 2 (0 means 2): under concurrency connections are closed and redialed"},
	{IDInsecureSkipVerify, "critical/warning", probe.PhaseTLS, "audit", "InsecureSkipVerify: server certificates are not verified (warning when a custom verifier is set)"},
	{IDH2Disabled, "warning/info", probe.PhaseTLS, "audit", "HTTP/2 is off: silently by a custom TLSClientConfig or dialer (warning) or on purpose (info)"},
	{IDProxyFromEnvironment, "warning/info", probe.PhaseConnect, "audit", "requests go through the proxy named by HTTP_PROXY/HTTPS_PROXY (warning when one is set now)"},
	{IDTransportUnknown, "info", "", "audit", "the transport is not an *http.Transport and does not unwrap to one: nothing more can be checked"},
	{IDRetry, "info", "", "request", "this attempt is a retry: which attempt, why, and how long the client waited"},
	{IDRetryAfterCapped, "warning", "", "request", "the server's Retry-After was longer than Retry.MaxRetryAfter; the client waited the cap"},
	{IDRetryStopped, "info", "", "request", "a retryable failure was not retried: deadline, attempts used up, method not idempotent or body not replayable"},
}

// Catalogue lists every library finding, audit findings first.
func Catalogue() []Entry { return append([]Entry(nil), catalogue...) }

func catalogueIndex(id string) int {
	for i, e := range catalogue {
		if e.ID == id {
			return i
		}
	}
	return len(catalogue)
}
