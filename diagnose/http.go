package diagnose

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// HTTP thresholds.
const (
	// httpStatusWarning and httpStatusCritical: 4xx is a warning, 5xx critical.
	httpStatusWarning  = 400
	httpStatusCritical = 500
	// serverSlowShare: wait (time to first byte) over this share of the
	// whole probe is the server's fault…
	serverSlowShare = 0.5
	// serverSlowFloorMS: …when it is also over this.
	serverSlowFloorMS = 200.0
)

// statusErr reports whether the probe failed because the status was not
// in valid_status.
func statusErr(r *probe.Result) bool {
	return r.Error != nil && r.Error.Cause == probe.CauseStatus
}

// httpStatus is HTTP_STATUS: 4xx warning, 5xx critical; any other status
// that failed the probe for being outside valid_status is a warning too.
func httpStatus(r *probe.Result) *Finding {
	h := r.HTTP
	if h == nil || h.Status <= 0 || (h.Status < httpStatusWarning && !statusErr(r)) {
		return nil
	}
	if declaredValid(h) {
		// The user said this status is the expected answer (e.g. a probe
		// that checks a path is gone: valid_status 404).
		return nil
	}
	sev := probe.SeverityWarning
	switch {
	case h.Status >= httpStatusCritical:
		sev = probe.SeverityCritical
	case h.Status >= httpStatusWarning:
	case statusErr(r):
	default:
		return nil
	}
	text := http.StatusText(h.Status)
	status := fmt.Sprint(h.Status)
	if text != "" {
		status += " " + text
	}
	ev := evidence{"status": h.Status}.set("valid_status", h.ValidStatus).set("proto", h.Proto)
	if len(h.Redirects) > 0 {
		ev["redirects"] = len(h.Redirects)
	}
	summary := "the server answered " + status
	if h.ValidStatus != "" {
		summary += " (valid: " + h.ValidStatus + ")"
	}
	return &Finding{
		ID: IDHTTPStatus, Severity: sev, Phase: probe.PhaseWait,
		Summary: summary, Evidence: ev, Advice: statusAdvice(h.Status),
	}
}

func statusAdvice(code int) string {
	switch code {
	case 400:
		return "The server rejected the request as malformed: check the method, headers (-H) and body (--data) the probe sends, and any required Host or Content-Type."
	case 401, 403:
		return "The request was not authorised: send the credentials the endpoint needs (-H 'Authorization: …'), or probe an unauthenticated health endpoint. A 403 from a proxy or WAF can also mean the probing host's IP is not allowed."
	case 404:
		return "Nothing is served at that path on this host: check the URL path and the Host/SNI the virtual host matches (nginx server_name/location, envoy route domains/prefix), and that the application deployed the route."
	case 405:
		return "The endpoint does not allow this method: use --method with one it accepts (the Allow header lists them)."
	case 429:
		return "The server is rate-limiting the probe: lower the probe frequency or allow-list the prober."
	case 502:
		return "The proxy in front could not get a valid response from its upstream: the upstream is down, refusing, or crashing mid-response. Check the proxy's error log (nginx: \"connect() failed\" / \"upstream prematurely closed\"; envoy: response flags UF/UC/URX) and the upstream itself."
	case 503:
		return "The service says it is unavailable: no healthy upstream (envoy response flag UH, nginx no live upstreams), maintenance mode, or overload shedding. Check the backends' health and capacity."
	case 504:
		return "The proxy gave up waiting for its upstream: the application is slower than the proxy's timeout (nginx proxy_read_timeout, envoy route timeout, default 15 s). Find why the upstream is slow before raising the timeout."
	}
	switch {
	case code >= 500:
		return "The server failed to handle the request: read the application's error log for this request and the proxy's log for upstream errors."
	case code >= 400:
		return "The server rejected the request as a client error: check the URL, method, headers and credentials the probe sends."
	}
	return "The status is outside valid_status: if it is expected (a redirect not followed, a 204), widen valid_status; otherwise fix the endpoint to answer with a valid status."
}

// httpServerSlow is HTTP_SERVER_SLOW.
func httpServerSlow(r *probe.Result) *Finding {
	if isWS(r) {
		return nil // a ws wait is the time to the first message, not to a response
	}
	w, ok := completedPhase(r, probe.PhaseWait)
	if !ok || r.TotalMS <= 0 || w <= serverSlowShare*r.TotalMS || w <= serverSlowFloorMS {
		return nil
	}
	share := w / r.TotalMS
	return &Finding{
		ID: IDHTTPServerSlow, Severity: probe.SeverityWarning, Phase: probe.PhaseWait,
		Summary: fmt.Sprintf("the server took %s to send the first response byte, %s of the %s probe",
			fmtMS(w), pct(share), fmtMS(r.TotalMS)),
		Evidence: evidence{"wait_ms": msEv(w), "total_ms": msEv(r.TotalMS), "share": round(share, 2)},
		Advice: "The network was quick; the server was slow to answer. Look at the application and what it waits on " +
			"(database queries, upstream calls, lock contention, GC pauses, cold caches). Behind a proxy, compare the " +
			"proxy's upstream time (nginx $upstream_response_time, envoy %RESPONSE_DURATION% / x-envoy-upstream-service-time) " +
			"to split proxy from application time.",
	}
}

// httpBodyTruncated is HTTP_BODY_TRUNCATED.
func httpBodyTruncated(r *probe.Result) *Finding {
	h := r.HTTP
	if h == nil || !h.Truncated {
		return nil
	}
	if h2RSTStream(r) != nil {
		return nil // cut short by the server's RST_STREAM: H2_RST_STREAM says so
	}
	ev := evidence{"body_bytes": h.BodyBytes, "content_length": h.ContentLength}
	var summary string
	if h.ContentLength >= 0 {
		ev["missing_bytes"] = h.ContentLength - h.BodyBytes
		summary = fmt.Sprintf("the body ended after %d of the %d bytes announced by Content-Length", h.BodyBytes, h.ContentLength)
	} else {
		summary = fmt.Sprintf("the connection closed mid-body after %d bytes (no Content-Length; the chunked body never ended)", h.BodyBytes)
	}
	if r.Error != nil {
		ev.set("message", r.Error.Message)
	}
	return &Finding{
		ID: IDHTTPBodyTruncated, Severity: probe.SeverityCritical, Phase: probe.PhaseTransfer,
		Summary:  summary,
		Evidence: ev,
		Advice: "The server (or a proxy) closed the connection before the response was complete: the application crashed or " +
			"was killed mid-response, a proxy timed out while streaming (nginx proxy_read_timeout / send_timeout, envoy " +
			"stream idle_timeout), or a proxy buffered to a full disk (nginx proxy_temp_path). Check the error logs around " +
			"the probe's time; a Content-Length computed before compression or a template error after headers were sent " +
			"also produce this.",
	}
}

// httpBodyTooLarge is HTTP_BODY_TOO_LARGE.
func httpBodyTooLarge(r *probe.Result) *Finding {
	h := r.HTTP
	if h == nil || !h.BodyLimited {
		return nil
	}
	ev := evidence{"body_bytes": h.BodyBytes, "max_body": h.MaxBody, "content_encoding": h.ContentEncoding}
	if h.ContentLength >= 0 {
		ev["content_length"] = h.ContentLength
	}
	limit := "the --max-body limit"
	if h.MaxBody > 0 {
		limit = fmt.Sprintf("the %d-byte limit (--max-body)", h.MaxBody)
	}
	summary := fmt.Sprintf("the body exceeded %s; reading stopped after %d bytes", limit, h.BodyBytes)
	if h.ContentEncoding != "" {
		summary += fmt.Sprintf(" of %s-decoded data", h.ContentEncoding)
	}
	return &Finding{
		ID: IDHTTPBodyTooLarge, Severity: probe.SeverityWarning, Phase: probe.PhaseTransfer,
		Summary:  summary,
		Evidence: ev,
		Advice: "If the endpoint legitimately returns a large body, raise --max-body, or better, probe a small health " +
			"endpoint. If it should not, the server is streaming without end or sending a compression bomb (a small " +
			"gzip body that inflates enormously): find what produces it. pathlens counts the decoded body, so a " +
			"Content-Encoding response can hit the limit even when the bytes on the wire were few.",
	}
}

// httpNoKeepAlive is HTTP_NO_KEEPALIVE: an HTTP/1 server that closes
// after the response, or an HTTP/2 server that sends GOAWAY as soon as
// its responses are done (h2ClosedAfterResponse).
func httpNoKeepAlive(r *probe.Result) *Finding {
	h := r.HTTP
	if g := h2ClosedAfterResponse(r); g != nil {
		ev := evidence{"proto": h.Proto, "status": h.Status, "goaway_code": g.Code, "last_stream": g.LastStream,
			"after_stream": g.LastStream, "streams": g.Streams, "goaway_at_ms": msEv(g.AtMS)}.set("debug", g.Debug)
		which := fmt.Sprintf("stream %d", g.LastStream)
		if g.Streams == 1 {
			which += ", the only one,"
		}
		return &Finding{
			ID: IDHTTPNoKeepAlive, Severity: probe.SeverityInfo, Phase: probe.PhaseTransfer,
			Summary: fmt.Sprintf("the server closes the HTTP/2 connection after each response: GOAWAY (%s) as soon as %s had been answered; "+
				"every request pays a new TCP and TLS handshake", g.Code, which),
			Evidence: ev,
			Advice: "The server (or a proxy in front) does not keep HTTP/2 connections for more than one request. nginx: " +
				"keepalive_timeout 0 closes HTTP/2 connections too — set it above 0 — and keepalive_requests (http2_max_requests " +
				"before 1.19.7) must be above 1; envoy: common_http_protocol_options max_requests_per_connection not 1; Go " +
				"http.Server: nothing may call SetKeepAlivesEnabled(false), which makes its HTTP/2 server send GOAWAY once a " +
				"connection is idle. A load balancer that drains every connection after a response does the same.",
		}
	}
	if h == nil || h.Status <= 0 || h.KeepAlive || !strings.HasPrefix(h.Proto, "HTTP/1") {
		return nil
	}
	return &Finding{
		ID: IDHTTPNoKeepAlive, Severity: probe.SeverityInfo, Phase: probe.PhaseTransfer,
		Summary:  fmt.Sprintf("the server closes the connection after each response (%s): every request pays a new TCP and TLS handshake", h.Proto),
		Evidence: evidence{"proto": h.Proto, "status": h.Status},
		Advice: "Let the server keep connections open: nginx keepalive_timeout above 0 (0 disables keep-alive) and " +
			"keepalive_requests high enough; for a proxied backend, nginx upstream keepalive N with proxy_http_version 1.1 " +
			"and proxy_set_header Connection \"\"; Go http.Server keeps alive by default — check nothing calls " +
			"SetKeepAlivesEnabled(false) or sets a \"Connection: close\" header; envoy: common_http_protocol_options " +
			"idle_timeout not 0. HTTP/1.0 servers close by default.",
	}
}

// h2ClosedAfterResponse is the server's GOAWAY on an http(s) probe's
// HTTP/2 connection when it closes the connection after its responses
// the way an HTTP/1 server sends Connection: close: NO_ERROR, every
// stream pathlens opened answered in full before it (none pending, none
// above the last stream id) and a response read. Nil otherwise: a GOAWAY
// with an error code, or in the middle of a response (a drain for a
// restart), is H2_GOAWAY's.
func h2ClosedAfterResponse(r *probe.Result) *probe.H2GoAway {
	h := r.HTTP
	if h == nil || h.Status <= 0 || r.H2 == nil || r.H2.GoAway == nil || r.GRPC != nil || isWS(r) {
		return nil
	}
	g := r.H2.GoAway
	if g.Code != "NO_ERROR" || g.Pending != 0 || g.Streams <= 0 || g.LastStream < uint32(2*g.Streams-1) {
		return nil
	}
	return g
}

// httpNoH2 is HTTP_NO_H2.
func httpNoH2(r *probe.Result) *Finding {
	t := r.TLS
	if r.Kind != "https" || t == nil || t.Version == "" || !slices.Contains(t.OfferedALPN, "h2") || t.ALPN == "h2" {
		return nil
	}
	got := "no ALPN protocol"
	if t.ALPN != "" {
		got = fmt.Sprintf("%q", t.ALPN)
	}
	return &Finding{
		ID: IDHTTPNoH2, Severity: probe.SeverityInfo, Phase: probe.PhaseTLS,
		Summary:  fmt.Sprintf("the server chose %s although h2 was offered: the probe used HTTP/1.1", got),
		Evidence: evidence{"offered_alpn": t.OfferedALPN, "version": t.Version}.set("alpn", t.ALPN),
		Advice: "Enable HTTP/2 on the TLS listener: nginx 1.25.1+ http2 on; (older: listen 443 ssl http2;); envoy: " +
			"alpn_protocols: [h2, http/1.1] in the common_tls_context and codec_type: AUTO; Go net/http enables h2 by " +
			"itself with ListenAndServeTLS — unless TLSNextProto is set to a non-nil map, or a custom tls.Config / " +
			"tls.Listener sets NextProtos without \"h2\". Behind a load balancer, enable h2 on the balancer's listener.",
	}
}

// httpProtocolError is HTTP_PROTOCOL_ERROR: the HTTP exchange failed with
// a malformed or hostile response, and no more specific HTTP finding
// (status, truncated body, body limit, refused redirect) explains it.
func httpProtocolError(r *probe.Result) *Finding {
	e := r.Error
	if e == nil || (e.Class != probe.ClassHTTP && e.Class != probe.ClassProtocol) {
		return nil
	}
	switch e.Phase {
	case probe.PhaseTLS, probe.PhaseDNS, probe.PhaseConnect:
		return nil
	}
	if e.Cause == probe.CauseStatus {
		return nil
	}
	if probeRedirectRefused(r) != nil {
		return nil // the probe's own policy stopped it: PROBE_REDIRECT_REFUSED says so
	}
	if h := r.HTTP; h != nil && (h.Truncated || h.BodyLimited) {
		return nil
	}
	if grpcStatus(r) != nil || grpcStreamTruncated(r) != nil {
		return nil // the gRPC finding says what went wrong
	}
	if h2RSTStream(r) != nil {
		return nil // the server reset the stream: H2_RST_STREAM says so
	}
	if isWS(r) && (wsUpgradeFailed(r) != nil || wsAuthRejected(r) != nil || wsAbnormalClose(r) != nil) {
		return nil // the WebSocket finding says what went wrong
	}
	ev := evidence{}.set("cause", e.Cause).set("message", e.Message).set("phase", e.Phase)
	if r.HTTP != nil && r.HTTP.HeadersBytes > 0 {
		ev["headers_bytes"] = r.HTTP.HeadersBytes
	}
	var summary, advice string
	switch e.Cause {
	case probe.CauseHeadersTooLarge:
		summary = "the response header block exceeded the limit pathlens accepts: " + e.Message
		advice = "The server sent an enormous or endless header block. Legitimate headers stay in the kilobytes: look " +
			"for a header growing without bound (a cookie appended on every redirect, a debug or trace header echoed back), " +
			"or a server or proxy that never ends its header block. Proxies reject these too (nginx " +
			"proxy_buffer_size / large_client_header_buffers, envoy max_response_headers_kb)."
	case probe.CauseMalformed:
		summary = "the server sent a malformed HTTP response: " + e.Message
		advice = "The response does not parse as HTTP: a bad or overlong status line, invalid header syntax, or a " +
			"non-HTTP protocol on this port. Capture it with curl -v --http1.1 or nc and check that the port serves HTTP " +
			"and that no proxy in between rewrites or corrupts the response."
	case probe.CauseReadCap:
		summary = "the server sent more data than the probe allows (read cap reached): " + e.Message
		advice = "The server kept sending far beyond any sane response size. Find what streams without end (a loop in a " +
			"handler, a misrouted streaming endpoint); raise --max-body only if the size is expected."
	case probe.CausePanic:
		summary = "pathlens hit an internal error while reading the response: " + e.Message
		advice = "This is a pathlens bug triggered by the response: please report it with the target's response " +
			"captured (curl -v --raw) so it can be reproduced."
	default:
		summary = fmt.Sprintf("the HTTP exchange failed during %s: %s", phaseWords(e.Phase), e.Message)
		advice = "The server broke the HTTP exchange. Reproduce with curl -v (add --http1.1 or --http2 to pin the " +
			"protocol) and read the server's and any proxy's error logs for this request."
	}
	return &Finding{
		ID: IDHTTPProtocolError, Severity: probe.SeverityCritical, Phase: e.Phase,
		Summary: summary, Evidence: ev, Advice: advice,
	}
}

// declaredValid reports whether the status lies in a valid_status range the
// user set; the default 200-399 never contains a 4xx or 5xx.
func declaredValid(h *probe.HTTPInfo) bool {
	if h.ValidStatus == "" {
		return false
	}
	ranges, err := probe.ParseStatusRanges(h.ValidStatus)
	if err != nil {
		return false
	}
	for _, rg := range ranges {
		if h.Status >= rg.Lo && h.Status <= rg.Hi {
			return h.Status >= httpStatusWarning
		}
	}
	return false
}
