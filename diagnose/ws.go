package diagnose

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// WebSocket finding IDs (docs/findings.md; WS_IDLE_CLOSED is an addition).
const (
	IDWSUpgradeFailed = "WS_UPGRADE_FAILED"
	IDWSAuthRejected  = "WS_AUTH_REJECTED"
	IDWSTokenExpired  = "WS_TOKEN_EXPIRED"
	IDWSAbnormalClose = "WS_ABNORMAL_CLOSE"
	IDWSPingTimeout   = "WS_PING_TIMEOUT"
	IDWSIdleClosed    = "WS_IDLE_CLOSED"
	// IDWSMessageTooLarge is an addition: a message over the read limit.
	IDWSMessageTooLarge = "WS_MESSAGE_TOO_LARGE"
)

// WebSocket thresholds.
const (
	// wsAuthCloseWindowMS: a close with an auth code (1008, 4401, 4403)
	// this soon after the upgrade is the server refusing the credentials
	// ("closed at once").
	wsAuthCloseWindowMS = 1000.0
	// wsTokenExpiryWindowMS: a server close within this of the token's
	// exp is the expiry ending the session.
	wsTokenExpiryWindowMS = 2000.0
	// wsIdleMinMS: a server close after at least this long without a
	// message, ping or pong in either direction is an idle timeout.
	wsIdleMinMS = 1000.0
)

// wsAuthCloseCodes are the close codes servers use to refuse credentials:
// 1008 policy violation and the private-use 4401/4403 (HTTP 401/403).
var wsAuthCloseCodes = []int{1008, 4401, 4403}

// isWS reports whether r is a ws or wss probe.
func isWS(r *probe.Result) bool { return r.Kind == "ws" || r.Kind == "wss" }

// wsCloseAt is the absolute time the session's close began.
func wsCloseAt(r *probe.Result) time.Time {
	return r.StartedAt.Add(time.Duration(r.WS.Close.AtMS * float64(time.Millisecond)))
}

// wsServerClose returns the close when the server ended the session.
func wsServerClose(r *probe.Result) *probe.WSClose {
	if !isWS(r) || r.WS == nil || r.WS.Close == nil || r.WS.Close.By != probe.WSClosedByServer {
		return nil
	}
	return r.WS.Close
}

// wsTokenEvidence adds what may be shown of the token.
func wsTokenEvidence(ev evidence, w *probe.WSInfo) evidence {
	ev.set("token_fingerprint", w.TokenFingerprint).set("token_source", w.TokenSource).set("token_via", w.TokenVia)
	if w.TokenExp != nil {
		ev["token_exp"] = w.TokenExp.UTC().Format(time.RFC3339)
	}
	return ev
}

// wsCloseEvidence is the evidence every close finding carries.
func wsCloseEvidence(r *probe.Result) evidence {
	w := r.WS
	c := w.Close
	ev := evidence{"close_code": c.Code, "closed_by": c.By, "frame_received": c.FrameReceived,
		"session_ms": msEv(w.SessionMS), "idle_ms": msEv(w.IdleMS), "messages_in": w.MessagesIn, "messages_out": w.MessagesOut}
	return ev.set("reason", c.Reason).set("error", c.Error)
}

func wsStatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// wsAuthRejectedApplies: the upgrade was refused with 401/403, or the
// server closed with an auth code within wsAuthCloseWindowMS of the
// upgrade — unless the token's expiry explains that close.
func wsAuthRejectedApplies(r *probe.Result) bool {
	if !isWS(r) || r.WS == nil {
		return false
	}
	if s := r.WS.UpgradeStatus; s == http.StatusUnauthorized || s == http.StatusForbidden {
		return true
	}
	c := wsServerClose(r)
	return c != nil && c.FrameReceived && slices.Contains(wsAuthCloseCodes, c.Code) &&
		r.WS.SessionMS <= wsAuthCloseWindowMS && !wsTokenExpiredApplies(r)
}

// wsTokenExpiredApplies: the server ended the session within
// wsTokenExpiryWindowMS of the token's exp.
func wsTokenExpiredApplies(r *probe.Result) bool {
	c := wsServerClose(r)
	if c == nil || r.WS.TokenExp == nil {
		return false
	}
	d := wsCloseAt(r).Sub(*r.WS.TokenExp)
	return d.Abs() <= time.Duration(wsTokenExpiryWindowMS*float64(time.Millisecond))
}

// wsUpgradeFailed is WS_UPGRADE_FAILED: the upgrade was answered with
// anything but a valid 101, or the connection failed during it. A 401 or
// 403 is WS_AUTH_REJECTED instead; a budget that ran out is PROBE_TIMEOUT.
func wsUpgradeFailed(r *probe.Result) *Finding {
	e := r.Error
	if !isWS(r) || r.WS == nil || e == nil || e.Phase != probe.PhaseUpgrade ||
		e.Class == probe.ClassTimeout || e.Class == probe.ClassCanceled || e.Class == probe.ClassConfig || wsAuthRejectedApplies(r) {
		return nil
	}
	status := r.WS.UpgradeStatus
	ev := evidence{"upgrade_status": status}.set("cause", e.Cause).set("message", e.Message)
	if d, ok := phaseOf(r, probe.PhaseUpgrade); ok {
		ev["upgrade_ms"] = msEv(d.DurationMS)
	}
	var summary, advice string
	switch {
	case status != 0 && status != http.StatusSwitchingProtocols:
		summary = "the WebSocket upgrade was answered " + wsStatusText(status) + ", not 101 Switching Protocols"
		advice = "Something on the path answered the upgrade as a plain HTTP request. Check the path is the WebSocket " +
			"endpoint (a 404 or 200 means it is not), and that every proxy in front forwards the upgrade: nginx needs " +
			"proxy_http_version 1.1, proxy_set_header Upgrade $http_upgrade and proxy_set_header Connection \"upgrade\" " +
			"(both headers are hop-by-hop and dropped otherwise); HAProxy and envoy need WebSocket upgrades enabled on the " +
			"route (envoy upgrade_configs: websocket). A 426 asks for another protocol version; a 3xx points elsewhere " +
			"(probe the Location); a 5xx is the backend failing the upgrade."
	case status == http.StatusSwitchingProtocols:
		summary = "the server answered 101 but broke the WebSocket handshake: " + e.Message
		advice = "The 101 response is not a valid RFC 6455 handshake (wrong Sec-WebSocket-Accept, missing Upgrade or " +
			"Connection header, a subprotocol or extension that was not offered). A proxy that rewrites the response, or a " +
			"server-side WebSocket library bug, are the usual causes; compare with websocat -v or curl --include " +
			"--http1.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H " +
			"'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='."
	default:
		summary = "the connection failed during the WebSocket upgrade: " + e.Message
		advice = "The server (or a proxy) closed or reset the connection before answering the upgrade request. Check " +
			"its error log for this request; a load balancer without WebSocket support, or one that limits request " +
			"headers, can do this."
	}
	return &Finding{ID: IDWSUpgradeFailed, Severity: probe.SeverityCritical, Phase: probe.PhaseUpgrade,
		Summary: summary, Evidence: ev, Advice: advice}
}

// wsAuthRejected is WS_AUTH_REJECTED.
func wsAuthRejected(r *probe.Result) *Finding {
	if !wsAuthRejectedApplies(r) {
		return nil
	}
	w := r.WS
	var ev evidence
	var summary, phase string
	if s := w.UpgradeStatus; s == http.StatusUnauthorized || s == http.StatusForbidden {
		phase = probe.PhaseUpgrade
		ev = evidence{"upgrade_status": s}.set("auth_challenge", w.AuthChallenge)
		summary = "the WebSocket upgrade was refused with " + wsStatusText(s)
	} else {
		phase = probe.PhaseHold
		ev = wsCloseEvidence(r)
		summary = fmt.Sprintf("the server closed the session %s after the upgrade with code %d", fmtMS(w.SessionMS), w.Close.Code)
		if w.Close.Reason != "" {
			summary += fmt.Sprintf(" (%q)", w.Close.Reason)
		}
		summary += ": it refused the credentials"
	}
	ev = wsTokenEvidence(ev, w)
	if w.TokenFingerprint == "" {
		summary += "; no token was sent"
	} else {
		summary += " (token " + w.TokenFingerprint + ")"
	}
	return &Finding{ID: IDWSAuthRejected, Severity: probe.SeverityCritical, Phase: phase, Summary: summary, Evidence: ev,
		Advice: "The endpoint wants credentials it did not get or did not accept. Send a token (--bearer TOKEN, " +
			"--bearer @FILE, or mint one with --jwt-secret FILE / --jwt-key FILE and --jwt-claims), or --token-param NAME " +
			"when the server reads it from the query string (browsers cannot set headers on WebSocket upgrades, so many " +
			"servers do). For a minted JWT check the algorithm, key, issuer/audience claims and clock skew the server " +
			"expects; the auth_challenge evidence (WWW-Authenticate) often names the reason."}
}

// wsTokenExpired is WS_TOKEN_EXPIRED.
func wsTokenExpired(r *probe.Result) *Finding {
	if !wsTokenExpiredApplies(r) {
		return nil
	}
	w := r.WS
	closeAt := wsCloseAt(r)
	delta := closeAt.Sub(*w.TokenExp)
	ev := wsTokenEvidence(wsCloseEvidence(r), w)
	ev["close_at"] = closeAt.UTC().Format(time.RFC3339Nano)
	ev["close_after_exp_ms"] = msEv(probe.MS(delta))
	lifetime := w.TokenExp.Sub(r.StartedAt)
	ev["token_lifetime_ms"] = msEv(probe.MS(lifetime))
	when := "at"
	switch {
	case delta > 50*time.Millisecond:
		when = fmt.Sprintf("%s after", fmtMS(probe.MS(delta)))
	case delta < -50*time.Millisecond:
		when = fmt.Sprintf("%s before", fmtMS(probe.MS(-delta)))
	}
	return &Finding{ID: IDWSTokenExpired, Severity: probe.SeverityWarning, Phase: probe.PhaseHold,
		Summary: fmt.Sprintf("the server closed the session (code %d) %s the token's exp (%s): the token checked at the upgrade expired and the session died with it",
			w.Close.Code, when, w.TokenExp.UTC().Format(time.RFC3339)),
		Evidence: ev,
		Advice: "Long-lived sockets outlive the token they were opened with. Either the client refreshes before exp " +
			"(re-authenticate in-band, or reconnect with a fresh token shortly before expiry — with jitter, so every " +
			"client does not reconnect at once), or the server stops enforcing exp on established sessions. Clients " +
			"should treat this close code as \"refresh and reconnect\", not as an error; keep token lifetimes longer " +
			"than the session length you expect."}
}

// wsAbnormalClose is WS_ABNORMAL_CLOSE: the server's side ended the
// session without a close frame, or with 1006/1011.
func wsAbnormalClose(r *probe.Result) *Finding {
	c := wsServerClose(r)
	if c == nil || (c.FrameReceived && c.Code != 1006 && c.Code != 1011) {
		return nil
	}
	ev := wsTokenEvidence(wsCloseEvidence(r), r.WS)
	var summary, advice string
	if !c.FrameReceived {
		summary = fmt.Sprintf("the connection dropped %s into the session without a close frame", fmtMS(r.WS.SessionMS))
		if c.Error != "" {
			summary += " (" + c.Error + ")"
		}
		advice = "Something killed the TCP connection instead of closing the WebSocket: a load balancer or proxy " +
			"(idle or max-connection-age timeouts, a config reload or deploy that drops connections), a crashed or " +
			"restarted backend, a NAT or firewall forgetting the flow. Compare the session length with the timeouts on " +
			"the path (AWS ALB idle_timeout 60 s, nginx proxy_read_timeout 60 s, envoy stream_idle_timeout 5 min); " +
			"regular pings (--ping-interval) keep idle paths alive. Clients must reconnect with backoff."
	} else {
		summary = fmt.Sprintf("the server closed the session with code %d", c.Code)
		if c.Reason != "" {
			summary += fmt.Sprintf(" (%q)", c.Reason)
		}
		summary += fmt.Sprintf(" %s into the session: an internal error on the server", fmtMS(r.WS.SessionMS))
		advice = "Close code 1011 means the server hit an unexpected condition (1006 is never legal on the wire). " +
			"Read the server's error log at the close time; the reason text, if any, is in the evidence."
	}
	phase := probe.PhaseHold
	if r.Error != nil && r.Error.Phase == probe.PhaseWait {
		phase = probe.PhaseWait
	}
	return &Finding{ID: IDWSAbnormalClose, Severity: probe.SeverityCritical, Phase: phase,
		Summary: summary, Evidence: ev, Advice: advice}
}

// wsPingTimeout is WS_PING_TIMEOUT: a ping got no pong within the ping
// interval.
func wsPingTimeout(r *probe.Result) *Finding {
	if !isWS(r) || r.WS == nil {
		return nil
	}
	w := r.WS
	timedOut, late := 0, 0
	first := -1.0
	for _, p := range w.Pings {
		if !p.TimedOut {
			continue
		}
		timedOut++
		if p.Pong {
			late++
		}
		if first < 0 {
			first = p.SentMS
		}
	}
	if timedOut == 0 {
		return nil
	}
	ev := evidence{"pings_sent": len(w.Pings), "timed_out": timedOut, "late_pongs": late,
		"ping_interval_ms": msEv(w.PingIntervalMS), "first_timeout_sent_ms": msEv(first), "ping_rtt_ms": w.PingRTTMS}
	summary := fmt.Sprintf("%d of %d pings got no pong within the %s ping interval", timedOut, len(w.Pings), fmtMS(w.PingIntervalMS))
	if late > 0 {
		summary += fmt.Sprintf(" (%d answered late)", late)
	}
	return &Finding{ID: IDWSPingTimeout, Severity: probe.SeverityWarning, Phase: probe.PhaseHold,
		Summary: summary, Evidence: ev,
		Advice: "RFC 6455 requires a pong for every ping as soon as practical. A server that never answers has its " +
			"WebSocket library's automatic pong disabled, or only answers while the application reads (the reader " +
			"loop is blocked or not running); one that answers late is overloaded or its event loop is stalled. " +
			"Clients that use pings as a liveness check will drop this connection; check the server's read loop " +
			"and any proxy that terminates WebSockets (it must relay or answer control frames)."}
}

// wsIdleClosed is WS_IDLE_CLOSED: the server side ended the session after
// a quiet period, which points at an idle timeout on the path. The token's
// expiry and an auth refusal explain a close better when they apply.
func wsIdleClosed(r *probe.Result) *Finding {
	c := wsServerClose(r)
	if c == nil || r.WS.IdleMS < wsIdleMinMS || wsTokenExpiredApplies(r) || wsAuthRejectedApplies(r) {
		return nil
	}
	w := r.WS
	ev := wsCloseEvidence(r)
	ev["last_traffic_ms"] = msEv(c.AtMS - w.IdleMS)
	how := fmt.Sprintf("with code %d", c.Code)
	if !c.FrameReceived {
		how = "without a close frame"
	}
	return &Finding{ID: IDWSIdleClosed, Severity: probe.SeverityWarning, Phase: probe.PhaseHold,
		Summary: fmt.Sprintf("the server side closed the session %s after %s without a message, ping or pong in either direction: an idle timeout of about %s on the path",
			how, fmtMS(w.IdleMS), fmtBudget(w.IdleMS)),
		Evidence: ev,
		Advice: "A proxy, load balancer or the server closes connections that stay quiet this long (AWS ALB " +
			"idle_timeout, default 60 s; nginx proxy_read_timeout, default 60 s; Cloudflare 100 s; envoy " +
			"stream_idle_timeout). Send pings (or application heartbeats) more often than the shortest idle timeout " +
			"on the path — measure it with --hold and no traffic, then probe with --ping-interval below it — or raise " +
			"the timeout for the WebSocket route."}
}

// wsMessageTooLarge is WS_MESSAGE_TOO_LARGE: the server sent a message
// over the probe's read limit, and pathlens closed the session with 1009.
// Real clients have limits too (often far lower), so this is a warning.
func wsMessageTooLarge(r *probe.Result) *Finding {
	if !isWS(r) || r.WS == nil || !r.WS.ReadLimited {
		return nil
	}
	w := r.WS
	ev := evidence{"max_message": w.MaxMessage, "messages_in": w.MessagesIn, "session_ms": msEv(w.SessionMS)}
	at := ""
	if c := w.Close; c != nil {
		ev["close_code"] = c.Code
		ev["close_ms"] = msEv(c.AtMS)
		at = fmt.Sprintf(" and closed the session with %d (message too big) %s into it", c.Code, fmtMS(w.SessionMS))
	}
	return &Finding{ID: IDWSMessageTooLarge, Severity: probe.SeverityWarning, Phase: probe.PhaseHold,
		Summary: fmt.Sprintf("the server sent a message larger than %s: pathlens stopped reading it%s",
			fmtBytes(w.MaxMessage), at),
		Evidence: ev,
		Advice: "Client libraries cap message size and close with 1009 past it, most far below this limit " +
			"(coder/websocket 32 KiB by default, gorilla/websocket none unless SetReadLimit is called, browsers none): " +
			"real clients are likely failing on the same message. If messages this large are expected, raise the " +
			"clients' read limits (probe with --ws-max-message); otherwise bound what the server sends in one message " +
			"(paginate snapshots, stream a large payload as several messages)."}
}
