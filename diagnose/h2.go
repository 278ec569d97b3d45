package diagnose

import (
	"fmt"
	"strings"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// HTTP/2 finding IDs (the frame tap, probe/h2tap). H2_SMALL_WINDOW is an
// addition to the contract's catalogue.
const (
	IDH2FlowControlStall = "H2_FLOW_CONTROL_STALL"
	IDH2RSTStream        = "H2_RST_STREAM"
	IDH2GoAway           = "H2_GOAWAY"
	IDH2SmallWindow      = "H2_SMALL_WINDOW"
)

// The stall threshold (100 ms) is applied by the tap (h2tap.StallThreshold):
// h2.stalls holds only waits over it.

// h2FlowControlStall is H2_FLOW_CONTROL_STALL: the tap saw a sender wait
// over 100 ms with a zero window. One finding names the longest stall and
// counts the rest.
func h2FlowControlStall(r *probe.Result) *Finding {
	h := r.H2
	if h == nil || len(h.Stalls) == 0 {
		return nil
	}
	worst := h.Stalls[0]
	var total float64
	for _, s := range h.Stalls {
		total += s.DurationMS
		if s.DurationMS > worst.DurationMS {
			worst = s
		}
	}
	ev := evidence{"direction": worst.Dir, "stream": worst.Stream, "duration_ms": msEv(worst.DurationMS),
		"start_ms": msEv(worst.StartMS), "initial_window": worst.InitialWindow, "conn_window": worst.ConnWindow,
		"stalls": len(h.Stalls), "total_stall_ms": msEv(total)}
	if worst.MaxFrameSize > 0 {
		ev["max_frame_size"] = worst.MaxFrameSize
	}
	if worst.Ongoing {
		ev["ongoing"] = true
	}
	which := fmt.Sprintf("stream %d's window", worst.Stream)
	if worst.Stream == 0 {
		which = "the connection window"
	}
	var summary, advice string
	if worst.Dir == probe.H2Send {
		summary = fmt.Sprintf("pathlens waited %s with data to send because the server's flow-control window was exhausted (%s; the server's initial stream window is %s)",
			fmtMS(worst.DurationMS), which, fmtBytes(int64(worst.InitialWindow)))
		advice = "The server stopped granting window: it read the request body slower than pathlens sent it, so HTTP/2 " +
			"flow control held the upload. Look at what the handler does before and while it reads the body (it may " +
			"wait on a database or an upstream first, or stream it to slow storage). If the server's windows are simply " +
			"small for the bodies it receives, raise them: Go net/http HTTP2Config.MaxReceiveBufferPerStream / " +
			"PerConnection (x/net http2.Server MaxUploadBufferPerStream), nginx http2_body_preread_size, envoy " +
			"initial_stream_window_size / initial_connection_window_size, grpc-go InitialWindowSize / InitialConnWindowSize."
	} else {
		summary = fmt.Sprintf("the server waited %s with data to send because pathlens's flow-control window was exhausted (%s; pathlens's initial stream window is %s)",
			fmtMS(worst.DurationMS), which, fmtBytes(int64(worst.InitialWindow)))
		advice = "pathlens (the receiver) did not grant window fast enough for what the server sends: the window it " +
			"advertises is small for the response or stream, so the server idles each round trip. Raise the client's " +
			"windows (--h2-window and --h2-conn-window) and, in your real clients, the equivalent settings " +
			"(Go net/http HTTP2Config.MaxReceiveBufferPerStream / PerConnection; grpc-go WithInitialWindowSize / " +
			"WithInitialConnWindowSize, or leave BDP estimation on)."
	}
	if len(h.Stalls) > 1 {
		summary += fmt.Sprintf("; %d stalls, %s in all", len(h.Stalls), fmtMS(total))
	}
	if worst.Ongoing {
		summary += "; the window was still closed when the probe ended"
	}
	return &Finding{ID: IDH2FlowControlStall, Severity: probe.SeverityWarning, Phase: h2DirPhase(r, worst.Dir),
		Summary: summary, Evidence: ev, Advice: advice}
}

// h2DirPhase is the phase in which data flows in direction dir: the
// request for what pathlens sends, the transfer (or the gRPC stream) for
// what the server sends.
func h2DirPhase(r *probe.Result, dir string) string {
	if dir == probe.H2Send {
		return probe.PhaseRequest
	}
	if _, ok := phaseOf(r, probe.PhaseStream); ok || strings.HasPrefix(r.Kind, "grpc") {
		return probe.PhaseStream
	}
	return probe.PhaseTransfer
}

// h2ServerReset returns the first stream the server reset, leaving out a
// NO_ERROR reset after a complete response (RFC 9113 §8.1: the server
// needs no more of the request body).
func h2ServerReset(r *probe.Result) *probe.H2Stream {
	if r.H2 == nil {
		return nil
	}
	for i := range r.H2.Streams {
		s := &r.H2.Streams[i]
		if s.Reset == "" || s.ResetDir != probe.H2Recv {
			continue
		}
		if s.Reset == "NO_ERROR" && s.RecvEnd {
			continue
		}
		return s
	}
	return nil
}

// h2RSTStream is H2_RST_STREAM: the server reset a stream. A gRPC call's
// own finding (GRPC_STREAM_TRUNCATED or GRPC_STATUS) takes precedence: it
// already names the reset.
func h2RSTStream(r *probe.Result) *Finding {
	s := h2ServerReset(r)
	if s == nil || grpcStatus(r) != nil || grpcStreamTruncated(r) != nil {
		return nil
	}
	ev := evidence{"code": s.Reset, "stream": s.ID, "at_ms": msEv(s.ResetAtMS),
		"data_frames": s.RecvFrames, "data_bytes": s.RecvBytes, "sent_bytes": s.SentBytes}
	if s.Status > 0 {
		ev["status"] = s.Status
	}
	var what string
	switch {
	case s.Status == 0 && s.RecvFrames == 0:
		what = "before any response"
	case s.RecvFrames == 0:
		what = fmt.Sprintf("after the response headers (status %d) and before any body", s.Status)
	default:
		what = fmt.Sprintf("after %d DATA frame%s (%s) of the response", s.RecvFrames, plural(s.RecvFrames), fmtBytes(s.RecvBytes))
	}
	summary := fmt.Sprintf("the server reset stream %d with %s %s", s.ID, s.Reset, what)
	if h := r.HTTP; h != nil && h.Truncated {
		ev["body_bytes"] = h.BodyBytes
		if h.ContentLength >= 0 {
			ev["content_length"] = h.ContentLength
			summary += fmt.Sprintf(": the body stopped at %d of %d bytes", h.BodyBytes, h.ContentLength)
		}
	}
	if r.Error != nil {
		ev.set("message", r.Error.Message)
	}
	phase := probe.PhaseTransfer
	switch {
	case r.Error != nil && r.Error.Phase != "":
		phase = r.Error.Phase
	case s.Status == 0:
		phase = probe.PhaseWait
	}
	return &Finding{ID: IDH2RSTStream, Severity: probe.SeverityCritical, Phase: phase,
		Summary: summary, Evidence: ev, Advice: rstAdvice(s.Reset)}
}

func rstAdvice(code string) string {
	switch code {
	case "INTERNAL_ERROR":
		return "The server (or a proxy in front of it) hit an error after it had started the response and could only " +
			"abort the stream: a handler that panicked or returned an error mid-stream (Go net/http resets with " +
			"INTERNAL_ERROR when a handler panics), an upstream that failed while a proxy was streaming (envoy resets " +
			"downstream on upstream reset; nginx on upstream timeout or error mid-response). Check the server's and " +
			"proxy's error logs at the probe's time."
	case "REFUSED_STREAM":
		return "The server refused the stream before processing it: it was over its concurrent-stream limit " +
			"(SETTINGS_MAX_CONCURRENT_STREAMS) or shutting down. Clients may retry safely; if it persists, raise the " +
			"server's stream limit or add capacity."
	case "CANCEL":
		return "The server canceled the stream: its handler gave up (a timeout of its own, the upstream went away) or " +
			"a proxy canceled it. Look for request timeouts in the server and proxies on the path (envoy route timeout, " +
			"nginx proxy_read_timeout, grpc-go deadlines)."
	case "ENHANCE_YOUR_CALM":
		return "The server thinks the client is abusive (too many resets, pings or settings). pathlens sends few " +
			"frames; check for a proxy in between and the server's flood-protection limits."
	case "FLOW_CONTROL_ERROR", "PROTOCOL_ERROR", "FRAME_SIZE_ERROR", "COMPRESSION_ERROR":
		return "The server says the client broke the HTTP/2 protocol. With pathlens as the client this points at a " +
			"proxy on the path rewriting frames, or a server bug; the frame timeline (check --frames) shows what was " +
			"sent just before the reset."
	}
	return "The server ended the stream abnormally. The frame timeline (check --frames) shows what came before the " +
		"reset; check the server's and proxies' logs at the probe's time for the error that caused it."
}

// h2GoAway is H2_GOAWAY: the server sent GOAWAY during the probe.
func h2GoAway(r *probe.Result) *Finding {
	if r.H2 == nil || r.H2.GoAway == nil {
		return nil
	}
	if h2ClosedAfterResponse(r) != nil {
		// A clean close once every response was done is how an HTTP/2
		// server says "no keep-alive": HTTP_NO_KEEPALIVE carries it, and
		// its code, last stream and debug data, as info.
		return nil
	}
	g := r.H2.GoAway
	ev := evidence{"code": g.Code, "last_stream": g.LastStream, "at_ms": msEv(g.AtMS), "streams": g.Streams}.set("debug", g.Debug)
	summary := fmt.Sprintf("the server sent GOAWAY (%s, last stream %d)", g.Code, g.LastStream)
	if g.Debug != "" {
		summary += fmt.Sprintf(" with debug data %q", clip(g.Debug))
	}
	if g.LastStream < uint32(g.Streams*2-1) && g.Streams > 0 {
		summary += ": streams above it were not processed"
	} else {
		summary += ": the connection cannot take new requests"
	}
	advice := "A GOAWAY with NO_ERROR is a graceful shutdown: the server or a proxy is draining the connection " +
		"(a restart or deploy, a connection age or request-count limit such as nginx keepalive_requests / " +
		"keepalive_time, envoy max_connection_duration, grpc-go MaxConnectionAge). Clients must open a new connection; " +
		"if this shows up on most probes the limit may be too low, which costs every client a handshake."
	if g.Code != "NO_ERROR" {
		advice = "A GOAWAY with an error code ends the connection because of an error: " + g.Code + ". " +
			"ENHANCE_YOUR_CALM means the server thinks the client is abusive; PROTOCOL_ERROR, FLOW_CONTROL_ERROR or " +
			"COMPRESSION_ERROR that it saw the protocol broken (a proxy rewriting frames, or a bug); INTERNAL_ERROR a " +
			"failure inside the server. The debug data and the server's logs say more."
	}
	return &Finding{ID: IDH2GoAway, Severity: probe.SeverityWarning, Phase: phaseAtMS(r, g.AtMS),
		Summary: summary, Evidence: ev, Advice: advice}
}

// phaseAtMS names the phase in flight at ms (the last one begun by then).
func phaseAtMS(r *probe.Result, ms float64) string {
	name := ""
	for _, p := range r.Phases {
		if p.StartMS <= ms {
			name = p.Name
		}
	}
	if name == "" && len(r.Phases) > 0 {
		name = r.Phases[len(r.Phases)-1].Name
	}
	return name
}

// h2SmallWindow is H2_SMALL_WINDOW: a body (or, for gRPC, a message)
// larger than the receiver's initial stream window, so it cannot be sent
// without waiting for WINDOW_UPDATEs. Info; warning when a stall in that
// direction was seen.
// It stays long: one rule reading top to bottom (find, pick, word the finding).
func h2SmallWindow(r *probe.Result) *Finding {
	h := r.H2
	if h == nil {
		return nil
	}
	type hit struct {
		dir          string
		stream       uint32
		size, window int64
		what         string
	}
	var hits []hit
	for _, s := range h.Streams {
		sendSize, recvSize := s.SentBytes, s.RecvBytes
		sendWhat, recvWhat := "request body", "response body"
		if g := r.GRPC; g != nil {
			// A gRPC stream carries many messages; the message is the unit
			// that must fit (5-byte framing included).
			sendSize, recvSize = int64(g.RequestBytes+5), int64(g.LargestMessage+5)
			if g.LargestMessage == 0 {
				recvSize = 0
			}
			sendWhat, recvWhat = "request message", "largest response message"
		}
		if w := int64(s.SendWindow); w > 0 && sendSize > w {
			hits = append(hits, hit{probe.H2Send, s.ID, sendSize, w, sendWhat})
		}
		if w := int64(s.RecvWindow); w > 0 && recvSize > w {
			hits = append(hits, hit{probe.H2Recv, s.ID, recvSize, w, recvWhat})
		}
		if r.GRPC != nil {
			break // one call, one stream
		}
	}
	if len(hits) == 0 {
		return nil
	}
	// Prefer the direction that stalled.
	pick := hits[0]
	stalled := func(x hit) (float64, bool) {
		var total float64
		found := false
		for _, st := range h.Stalls {
			if st.Dir == x.dir && (st.Stream == x.stream || st.Stream == 0) {
				total += st.DurationMS
				found = true
			}
		}
		return total, found
	}
	for _, x := range hits {
		if _, ok := stalled(x); ok {
			pick = x
			break
		}
	}
	stallMS, didStall := stalled(pick)
	receiver := "the server's"
	if pick.dir == probe.H2Recv {
		receiver = "pathlens's"
	}
	ev := evidence{"direction": pick.dir, "stream": pick.stream, "size": pick.size, "initial_window": pick.window,
		"stalled": didStall}
	if didStall {
		ev["stall_ms"] = msEv(stallMS)
	}
	summary := fmt.Sprintf("the %s (%s) is larger than %s initial stream window (%s): it cannot be sent without waiting for WINDOW_UPDATEs",
		pick.what, fmtBytes(pick.size), receiver, fmtBytes(pick.window))
	sev := probe.SeverityInfo
	if didStall {
		sev = probe.SeverityWarning
		summary += fmt.Sprintf(", and the sender stalled %s on it", fmtMS(stallMS))
	}
	advice := "Each window's worth of data costs the sender a round trip waiting for WINDOW_UPDATE, which caps throughput " +
		"at window / RTT on a long path. "
	if pick.dir == probe.H2Send {
		advice += "Raise the server's receive windows if bodies this large are normal (Go net/http HTTP2Config." +
			"MaxReceiveBufferPerStream, x/net http2.Server MaxUploadBufferPerStream, envoy initial_stream_window_size, " +
			"grpc-go InitialWindowSize), or send smaller requests."
	} else {
		advice += "Raise the client's initial window (in a probe --h2-window / --h2-conn-window; Go net/http " +
			"HTTP2Config.MaxReceiveBufferPerStream; grpc-go WithInitialWindowSize, or leave BDP estimation on), " +
			"or make the messages smaller."
	}
	return &Finding{ID: IDH2SmallWindow, Severity: sev, Phase: h2DirPhase(r, pick.dir),
		Summary: summary, Evidence: ev, Advice: advice}
}

// fmtBytes formats a byte count, as everywhere (units.Bytes): "512 B",
// "64 KiB", "1.5 MiB".
func fmtBytes(n int64) string { return units.Bytes(n) }
