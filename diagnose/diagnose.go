// Package diagnose turns a probe.Result into findings: what is wrong, the
// measured facts behind it and what to change (docs/findings.md). It is pure:
// rules read the Result and nothing else — no I/O, no clock (the probe's
// StartedAt stands in for "now").
//
// Every rule lives in the file of its area (dns.go, tcp.go, tls.go,
// http.go, policy.go, timeout.go), one function per finding ID. The thresholds are
// named constants next to their rule; docs/findings.md states the same
// numbers and a test keeps the two in step.
package diagnose

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// Finding is the finding type (an alias, so callers can say diagnose.Finding).
type Finding = probe.Finding

// Finding IDs. The contract fixes the ID and severity of every finding in
// docs/findings.md; TCP_CONNECT_FAILED and HTTP_PROTOCOL_ERROR are additions.
const (
	IDDNSFailed           = "DNS_FAILED"
	IDDNSSlow             = "DNS_SLOW"
	IDTCPRefused          = "TCP_REFUSED"
	IDTCPTimeout          = "TCP_TIMEOUT"
	IDTCPConnectFailed    = "TCP_CONNECT_FAILED"
	IDTLSHandshakeFailed  = "TLS_HANDSHAKE_FAILED"
	IDTLSChainIncomplete  = "TLS_CHAIN_INCOMPLETE"
	IDTLSChainOrder       = "TLS_CHAIN_ORDER"
	IDTLSUntrustedRoot    = "TLS_UNTRUSTED_ROOT"
	IDTLSHostnameMismatch = "TLS_HOSTNAME_MISMATCH"
	IDTLSCertExpired      = "TLS_CERT_EXPIRED"
	IDTLSCertExpiring     = "TLS_CERT_EXPIRING"
	IDTLSOldVersion       = "TLS_OLD_VERSION"
	IDTLSNoResumption     = "TLS_NO_RESUMPTION"
	IDTLSHandshakeSlow    = "TLS_HANDSHAKE_SLOW"
	IDTLSVerifySlow       = "TLS_VERIFY_SLOW"
	IDHTTPStatus          = "HTTP_STATUS"
	IDHTTPServerSlow      = "HTTP_SERVER_SLOW"
	IDHTTPBodyTruncated   = "HTTP_BODY_TRUNCATED"
	IDHTTPBodyTooLarge    = "HTTP_BODY_TOO_LARGE"
	IDHTTPNoKeepAlive     = "HTTP_NO_KEEPALIVE"
	IDHTTPNoH2            = "HTTP_NO_H2"
	IDHTTPProtocolError   = "HTTP_PROTOCOL_ERROR"
	IDGRPCStatus          = "GRPC_STATUS"
	IDGRPCStreamTruncated = "GRPC_STREAM_TRUNCATED"
	IDICMPLoss            = "ICMP_LOSS"
	IDProbeTimeout        = "PROBE_TIMEOUT"
)

// Entry describes one finding the rules can emit: its ID, its severity
// ("critical", "warning", "info", or "warning/critical" when it depends on
// the measurement), the phase it names and a one-line meaning.
type Entry struct {
	ID       string
	Severity string
	Phase    string
	Title    string
}

// rule is one catalogue entry and the function that checks it (nil for
// a finding produced outside the rules). A rule returns nil when it does
// not apply; rules that must not fire alongside a
// more specific finding call that finding's rule themselves, so the order
// of evaluation does not matter.
type rule struct {
	Entry
	check func(r *probe.Result) *Finding
}

// rules is the catalogue, in catalogue order (the tie-break when sorting
// findings of equal severity).
var rules = []rule{
	{Entry{IDDNSFailed, "critical", probe.PhaseDNS, "name resolution failed (NXDOMAIN, SERVFAIL, REFUSED, timeout or no address — the summary says which)"}, dnsFailed},
	{Entry{IDDNSSlow, "warning", probe.PhaseDNS, "name resolution took over 100 ms, or over half the probe (and over 20 ms)"}, dnsSlow},
	{Entry{IDTCPRefused, "critical", probe.PhaseConnect, "connection refused (RST): nothing listens on that address and port"}, tcpRefused},
	{Entry{IDTCPTimeout, "critical", probe.PhaseConnect, "no answer to SYN within the budget (dropped, not refused)"}, tcpTimeout},
	{Entry{IDTCPConnectFailed, "critical", probe.PhaseConnect, "TCP connect failed for another reason (host or network unreachable, reset)"}, tcpConnectFailed},
	{Entry{IDTLSHandshakeFailed, "critical", probe.PhaseTLS, "TLS handshake failed; evidence holds the alert or cause"}, tlsHandshakeFailed},
	{Entry{IDTLSChainIncomplete, "critical", probe.PhaseTLS, "server did not send an intermediate certificate that the chain needs"}, tlsChainIncomplete},
	{Entry{IDTLSChainOrder, "warning", probe.PhaseTLS, "server sent its certificates out of order"}, tlsChainOrder},
	{Entry{IDTLSUntrustedRoot, "critical", probe.PhaseTLS, "chain ends at a root (or issuer) not in the trust store in use"}, tlsUntrustedRoot},
	{Entry{IDTLSHostnameMismatch, "critical", probe.PhaseTLS, "certificate does not cover the name asked for"}, tlsHostnameMismatch},
	{Entry{IDTLSCertExpired, "critical", probe.PhaseTLS, "a certificate in the chain is expired or not yet valid"}, tlsCertExpired},
	{Entry{IDTLSCertExpiring, "warning", probe.PhaseTLS, "a certificate in the chain expires within 14 days"}, tlsCertExpiring},
	{Entry{IDTLSOldVersion, "warning", probe.PhaseTLS, "TLS 1.0 or 1.1 negotiated"}, tlsOldVersion},
	{Entry{IDTLSNoResumption, "warning", probe.PhaseTLS, "a second connection could not resume the session (full handshake every time)"}, tlsNoResumption},
	{Entry{IDTLSHandshakeSlow, "warning", probe.PhaseTLS, "handshake took over 3× the TCP connect time (3 round trips) and over 100 ms on the wire (certificate verification left out)"}, tlsHandshakeSlow},
	{Entry{IDTLSVerifySlow, "warning", probe.PhaseTLS, "verifying the server's certificates took over half the handshake and over 20 ms"}, tlsVerifySlow},
	{Entry{IDHTTPStatus, "warning/critical", probe.PhaseWait, "HTTP status 4xx (warning) or 5xx (critical), or outside valid_status"}, httpStatus},
	{Entry{IDHTTPServerSlow, "warning", probe.PhaseWait, "wait (time to first byte) is over half of the total and over 200 ms"}, httpServerSlow},
	{Entry{IDHTTPBodyTruncated, "critical", probe.PhaseTransfer, "body shorter than Content-Length, or connection closed mid-body"}, httpBodyTruncated},
	{Entry{IDHTTPBodyTooLarge, "warning", probe.PhaseTransfer, "body (after decoding) exceeded --max-body; reading stopped there"}, httpBodyTooLarge},
	{Entry{IDHTTPNoKeepAlive, "info", probe.PhaseTransfer, "the server closes the connection after each response: HTTP/1 Connection: close, or an HTTP/2 GOAWAY (NO_ERROR) as soon as every stream was answered"}, httpNoKeepAlive},
	{Entry{IDHTTPNoH2, "info", probe.PhaseTLS, "https server did not pick h2 in ALPN although it was offered"}, httpNoH2},
	{Entry{IDHTTPProtocolError, "critical", "request/wait/transfer", "malformed or hostile HTTP response (bad status line, oversized headers, read cap)"}, httpProtocolError},
	{Entry{IDH2FlowControlStall, "warning", "request/transfer", "a sender waited over 100 ms with data to send and a zero HTTP/2 flow-control window"}, h2FlowControlStall},
	{Entry{IDH2RSTStream, "critical", "wait/transfer", "the server reset an HTTP/2 stream (RST_STREAM); evidence holds the decoded error code"}, h2RSTStream},
	{Entry{IDH2GoAway, "warning", "any", "the server sent GOAWAY; evidence holds the code, last stream id and debug data"}, h2GoAway},
	{Entry{IDH2SmallWindow, "info/warning", "request/transfer", "a body (gRPC: a message) larger than the receiver's initial HTTP/2 stream window; warning when the sender also stalled"}, h2SmallWindow},
	{Entry{IDGRPCStatus, "critical", "request/wait/stream", "gRPC call ended with a non-OK status (evidence holds code and message), or a health Check answered other than SERVING"}, grpcStatus},
	{Entry{IDGRPCStreamTruncated, "critical", "wait/stream", "gRPC stream ended without a grpc-status trailer (reset, END_STREAM on data, connection lost), or with OK before --expect-messages messages"}, grpcStreamTruncated},
	{Entry{IDWSUpgradeFailed, "critical", probe.PhaseUpgrade, "WebSocket upgrade answered with anything but a valid 101 (or the connection failed during it)"}, wsUpgradeFailed},
	{Entry{IDWSAuthRejected, "critical", "upgrade/hold", "WebSocket upgrade refused with 401/403, or closed at once (within 1 s) with 1008/4401/4403"}, wsAuthRejected},
	{Entry{IDWSTokenExpired, "warning", probe.PhaseHold, "the server closed the WebSocket within 2 s of the token's exp"}, wsTokenExpired},
	{Entry{IDWSAbnormalClose, "critical", "wait/hold", "WebSocket connection dropped without a close frame, or closed with 1006/1011"}, wsAbnormalClose},
	{Entry{IDWSPingTimeout, "warning", probe.PhaseHold, "a WebSocket ping got no pong within the ping interval"}, wsPingTimeout},
	{Entry{IDWSIdleClosed, "warning", probe.PhaseHold, "the server side closed the WebSocket after at least 1 s without traffic either way (an idle timeout)"}, wsIdleClosed},
	{Entry{IDWSMessageTooLarge, "warning", probe.PhaseHold, "the server sent a WebSocket message over the probe's limit (--ws-max-message, 1 MiB by default); pathlens closed with 1009"}, wsMessageTooLarge},
	{Entry{IDICMPLoss, "warning/critical", probe.PhaseEcho, "ICMP echo requests went unanswered: any loss is a warning, 100 % is critical"}, icmpLoss},
	{Entry{IDProbeAddressDenied, "critical", probe.PhaseConnect, "every address of a hop is in a network the probe may not connect to (DenyNetworks); nothing was connected"}, probeAddressDenied},
	{Entry{IDProbeRedirectRefused, "critical", probe.PhaseWait, "a redirect led to a URL the probe may not follow (CheckRedirect); nothing was sent there"}, probeRedirectRefused},
	{Entry{IDProbeTimeout, "critical", "any", "the probe's budget ran out; evidence holds the phase in flight and each phase's time"}, probeTimeout},
	// No rule: package assert emits it (AssertionFailed, assertion.go).
	{Entry{IDAssertionFailed, "critical", "any", "an assertion of yours (--assert, assert:) was not true or could not be evaluated; an assertion may lower its severity to warning or info"}, nil},
}

// Catalogue lists every finding the rules can emit, in catalogue order.
// The docs (docs/findings.md) and the UI are built from it.
func Catalogue() []Entry {
	out := make([]Entry, len(rules))
	for i, r := range rules {
		out[i] = r.Entry
	}
	return out
}

// Diagnose runs every rule on r and returns the findings sorted worst
// first (critical, warning, info), then in catalogue order. It never
// returns nil and does not modify r.
func Diagnose(r *probe.Result) []Finding {
	out := []Finding{}
	if r == nil {
		return out
	}
	for _, rl := range rules {
		if rl.check == nil {
			continue
		}
		if f := rl.check(r); f != nil {
			out = append(out, *f)
		}
	}
	// rules are in catalogue order, so a stable sort by severity keeps
	// catalogue order within each severity.
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Severity.Rank() > out[j].Severity.Rank()
	})
	return out
}

// Apply sets r.Findings to Diagnose(r) (an empty slice, never nil, when
// nothing is wrong).
func Apply(r *probe.Result) {
	if r == nil {
		return
	}
	r.Findings = Diagnose(r)
}

// ---- helpers shared by the rules ----

// evidence is a finding's evidence map under construction.
type evidence map[string]any

// set stores v under k unless v is an empty string or a nil slice.
func (e evidence) set(k string, v any) evidence {
	switch x := v.(type) {
	case string:
		if x == "" {
			return e
		}
	case []string:
		if len(x) == 0 {
			return e
		}
	}
	e[k] = v
	return e
}

// phaseOf returns the named phase (the last one of that name).
func phaseOf(r *probe.Result, name string) (probe.Phase, bool) {
	for i := len(r.Phases) - 1; i >= 0; i-- {
		if r.Phases[i].Name == name {
			return r.Phases[i], true
		}
	}
	return probe.Phase{}, false
}

// completedPhase returns the named phase's duration when the phase is
// present and ran to its end (not cut off by a timeout or error).
func completedPhase(r *probe.Result, name string) (float64, bool) {
	p, ok := phaseOf(r, name)
	if !ok || p.Incomplete {
		return 0, false
	}
	return p.DurationMS, true
}

// errClass reports whether the probe failed with one of the classes.
func errClass(r *probe.Result, classes ...probe.ErrorClass) bool {
	if r.Error == nil {
		return false
	}
	for _, c := range classes {
		if r.Error.Class == c {
			return true
		}
	}
	return false
}

// round rounds x to n decimals; NaN and ±Inf (which JSON cannot carry)
// become 0.
func round(x float64, n int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

// msEv is a duration in ms as evidence: float64, to the microsecond.
func msEv(x float64) float64 { return round(x, 3) }

// fmtMS formats milliseconds for a summary line, as everywhere (units.MS).
func fmtMS(x float64) string { return units.MS(x) }

// fmtBudget formats the probe budget: "10 s", "2.5 s", "500 ms".
func fmtBudget(ms float64) string {
	if ms >= 1000 {
		s := fmt.Sprintf("%.1f", ms/1000)
		return strings.TrimSuffix(s, ".0") + " s"
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// pct formats a share (0..1) as a whole percentage.
func pct(share float64) string { return fmt.Sprintf("%.0f %%", math.Round(share*100)) }

// targetHost is the host of r.Target, or "" when it does not parse.
func targetHost(r *probe.Result) string {
	u, err := url.Parse(r.Target)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// quoteList formats names as "a", "b", "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// phaseWords names a phase for a person.
func phaseWords(phase string) string {
	switch phase {
	case probe.PhaseDNS:
		return "the DNS lookup"
	case probe.PhaseConnect:
		return "the TCP connect"
	case probe.PhaseTLS:
		return "the TLS handshake"
	case probe.PhaseRequest:
		return "sending the request"
	case probe.PhaseWait:
		return "the wait for the first response byte"
	case probe.PhaseTransfer:
		return "reading the response body"
	case probe.PhaseRedirect:
		return "following redirects"
	case probe.PhaseQuery:
		return "the DNS query"
	case probe.PhaseEcho:
		return "the ICMP echo"
	case probe.PhaseStream:
		return "the message stream"
	case probe.PhaseUpgrade:
		return "the WebSocket upgrade"
	case probe.PhaseHold:
		return "holding the WebSocket open"
	case "":
		return "the probe"
	}
	return "the " + phase + " phase"
}
