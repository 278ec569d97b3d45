package diagnose

import (
	"fmt"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// The two gRPC rules split the ways a call can go wrong so that each
// cause yields one finding:
//
//   - GRPC_STATUS: the call ended with a status that is not OK and that
//     the server gave (grpc-status trailer, or a non-gRPC HTTP answer
//     grpc-go maps to a code), or that grpc-go raised before the stream
//     opened or for a limit of its own (message too large); and a health
//     Check that answered OK with anything but SERVING in its body.
//   - GRPC_STREAM_TRUNCATED: the stream ended without a grpc-status
//     trailer (reset, END_STREAM without trailers, connection lost), or
//     ended with status OK before --expect-messages messages.
//
// Neither fires when the probe's budget ran out or it was canceled
// (PROBE_TIMEOUT says what happened).

// grpcEnded returns the gRPC block of a call that ended on its own.
func grpcEnded(r *probe.Result) *probe.GRPCInfo {
	g := r.GRPC
	if g == nil || g.StatusOrigin == "" || errClass(r, probe.ClassTimeout, probe.ClassCanceled) || tlsFailedApplies(r) {
		return nil
	}
	return g
}

// grpcStatus is GRPC_STATUS.
func grpcStatus(r *probe.Result) *Finding {
	g := grpcEnded(r)
	if g == nil || g.NoTrailers {
		return nil
	}
	notServing := g.StatusCode == 0 && g.Health && g.HealthStatus != "" && g.HealthStatus != "SERVING"
	if g.StatusCode == 0 && !notServing {
		return nil
	}
	ev := evidence{"code": g.StatusCode, "origin": g.StatusOrigin, "messages": g.Messages}.
		set("code_name", g.StatusName).set("message", g.StatusMessage).set("method", g.Method)
	if g.ExpectMessages > 0 && !g.Health {
		ev["expect_messages"] = g.ExpectMessages
	}
	if g.Health {
		ev["service"] = g.Service
		ev.set("health_status", g.HealthStatus)
	}
	phase := grpcPhase(r)
	if notServing {
		return &Finding{
			ID: IDGRPCStatus, Severity: probe.SeverityCritical, Phase: phase,
			Summary: fmt.Sprintf("the health Check of %s answered %s (call status OK): the server says it should not get traffic",
				serviceWords(g.Service), g.HealthStatus),
			Evidence: ev,
			Advice: "The server is up and answers gRPC, but its grpc.health.v1 service reports " + g.HealthStatus +
				" for " + serviceWords(g.Service) + ". Load balancers, Kubernetes gRPC probes and service meshes take it out of " +
				"rotation for that. The status is set by the application (health.Server.SetServingStatus): find why it " +
				"reports not serving — still starting, draining for shutdown, or a dependency it checks (database, " +
				"downstream service) is down — in its logs. Probe a specific service with --grpc-service NAME.",
		}
	}
	name := g.StatusName
	if name == "" {
		name = fmt.Sprintf("code %d", g.StatusCode)
	}
	var summary string
	switch g.StatusOrigin {
	case probe.GRPCStatusHTTP:
		summary = fmt.Sprintf("%s answered with a non-gRPC HTTP response, which a gRPC client sees as %s: %s",
			g.Method, name, clip(g.StatusMessage))
	case probe.GRPCStatusClient:
		summary = fmt.Sprintf("the call to %s failed on the client side with %s: %s", g.Method, name, clip(g.StatusMessage))
	default:
		summary = fmt.Sprintf("%s ended with status %s", g.Method, name)
		if g.StatusMessage != "" {
			summary += ": " + clip(g.StatusMessage)
		}
	}
	if g.ExpectMessages > 0 && !g.Health && g.Messages < g.ExpectMessages {
		summary += fmt.Sprintf(" (after %d of %d expected messages)", g.Messages, g.ExpectMessages)
	} else if g.Messages > 0 && !g.Health {
		summary += fmt.Sprintf(" (after %d message%s)", g.Messages, plural(g.Messages))
	}
	return &Finding{
		ID: IDGRPCStatus, Severity: probe.SeverityCritical, Phase: phase,
		Summary: summary, Evidence: ev, Advice: grpcStatusAdvice(g),
	}
}

func serviceWords(s string) string {
	if s == "" {
		return "the whole server (service \"\")"
	}
	return fmt.Sprintf("service %q", s)
}

// grpcPhase is the phase a gRPC finding names: where the probe failed,
// else stream (or wait when no response ever came).
func grpcPhase(r *probe.Result) string {
	if r.Error != nil && r.Error.Phase != "" {
		return r.Error.Phase
	}
	if _, ok := phaseOf(r, probe.PhaseStream); ok {
		return probe.PhaseStream
	}
	return probe.PhaseWait
}

// clip shortens a server-supplied message for a summary line.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

func grpcStatusAdvice(g *probe.GRPCInfo) string {
	if g.StatusOrigin == probe.GRPCStatusHTTP {
		return "Something that does not speak gRPC answered: an HTTP server, or a proxy that answered the request itself " +
			"(404 for an unknown route, 502/503 for a missing backend, 415 for an unexpected content-type). Check that the " +
			"port serves gRPC and that every proxy on the path routes HTTP/2 to the gRPC backend (nginx grpc_pass, " +
			"envoy http2_protocol_options, an ALB target group with protocol version gRPC)."
	}
	if strings.Contains(g.StatusMessage, probe.ErrReadCap.Error()) {
		return "The server sent more data than one probe reads (twice --max-body plus 64 MiB on the connection), so " +
			"pathlens stopped reading: a stream that never ends, or far larger than expected. Check what the method " +
			"streams for this request; raise --max-body only if that much is expected."
	}
	switch g.StatusName {
	case "UNIMPLEMENTED":
		if g.Health {
			return "The server does not implement grpc.health.v1.Health. Register the standard health service " +
				"(grpc-go: healthpb.RegisterHealthServer(s, health.NewServer()); other languages ship the same), or probe " +
				"one of its own methods with --grpc-method /package.Service/Method."
		}
		return "The server does not know this method: check the package, service and method names (case matters) " +
			"against the .proto, and list what it serves with grpcurl HOST:PORT list (needs server reflection). A proxy " +
			"routing by path to the wrong backend gives the same answer."
	case "NOT_FOUND":
		if g.Health {
			return "The health server does not know the service named in --grpc-service. Use the fully qualified name " +
				"the application registers (package.Service), or \"\" for the whole server."
		}
	case "UNAVAILABLE":
		if g.StatusOrigin == probe.GRPCStatusClient {
			return "The HTTP/2 connection for the call could not be set up or was lost before the stream opened. Check " +
				"that the port speaks HTTP/2 gRPC and that TLS matches the scheme: grpcs:// for TLS, grpc:// for cleartext " +
				"(prior-knowledge h2c). A server that speaks only HTTP/1.1, or TLS on a grpc:// target, fails here."
		}
		return "The server is up but refused the call as unavailable: overloaded, shutting down (draining), or unable to " +
			"reach what it depends on. A proxy in front answers this too when no healthy backend is left. Retry " +
			"later, and check the server's load and the proxy's upstream health."
	case "DEADLINE_EXCEEDED":
		return "The server gave up before answering within the deadline pathlens sent (grpc-timeout, the remaining " +
			"--timeout). Either the handler is slow (find where it waits) or the deadline is too short: raise --timeout."
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		return "The server requires credentials pathlens did not send, or refused the identity it has. Check the " +
			"method's auth requirements; with mutual TLS, pass --cert and --key."
	case "RESOURCE_EXHAUSTED":
		if g.StatusOrigin == probe.GRPCStatusClient {
			return fmt.Sprintf("A response message exceeded the %d-byte limit pathlens accepts (like every gRPC client's "+
				"default 4 MiB). Clients with the default limit fail the same way: page or stream the data in smaller "+
				"messages, or raise the clients' MaxCallRecvMsgSize.", g.MaxRecvBytes)
		}
		return "The server refused the call for a quota, rate limit or size limit. Check its limits (message size " +
			"caps, max concurrent streams, per-client rate limits) against the traffic."
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		return "The server's handler failed (an error without a status, a panic, or a serialisation problem). Read the " +
			"server's logs for this call; the message above is what it said."
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return "The server rejected the request message. Check --grpc-request-hex against the method's request type " +
			"(the empty message is sent by default; encode one with protoc --encode=package.Request file.proto | xxd -p)."
	}
	return "The call failed with this status. Its meaning is the application's: read the message, the server's " +
		"logs for this call, and the gRPC status code's documentation (grpc.io/docs/guides/status-codes)."
}

// grpcStreamTruncated is GRPC_STREAM_TRUNCATED.
func grpcStreamTruncated(r *probe.Result) *Finding {
	g := grpcEnded(r)
	if g == nil {
		return nil
	}
	short := g.ExpectMessages > 0 && g.Messages < g.ExpectMessages && g.StatusCode == 0
	if !g.NoTrailers && !short {
		return nil
	}
	ev := evidence{"messages": g.Messages, "bytes": g.Bytes, "no_trailers": g.NoTrailers,
		"headers_received": g.HeadersReceived, "trailers_received": g.TrailersReceived}.
		set("method", g.Method).set("reset_code", g.ResetCode).set("status_message", g.StatusMessage)
	if g.ExpectMessages > 0 {
		ev["expect_messages"] = g.ExpectMessages
	}
	if g.StatusName != "" && g.NoTrailers {
		ev["client_status"] = g.StatusName // the status grpc-go made up: no server sent it
	}
	if g.Messages > 0 {
		ev["last_message_ms"] = msEv(g.LastMessageMS)
	}
	of := fmt.Sprint(g.Messages)
	if g.ExpectMessages > 0 {
		of = fmt.Sprintf("%d of %d expected", g.Messages, g.ExpectMessages)
	}
	msgs := fmt.Sprintf("%s message%s", of, plural(g.Messages))
	var summary, advice string
	switch {
	case g.ResetCode != "":
		summary = fmt.Sprintf("the stream of %s was reset (RST_STREAM %s) after %s, without a grpc-status trailer",
			g.Method, g.ResetCode, msgs)
		advice = "Something reset the HTTP/2 stream mid-call instead of ending it with trailers: the server's handler " +
			"crashed or was killed, or a proxy cut the stream (a stream idle or max-duration timeout, a response size " +
			"limit, a backend connection that died). A gRPC client sees the call fail with " + g.StatusName + ". Check " +
			"the server's logs at the time of the reset and every proxy's stream timeouts (envoy stream_idle_timeout and " +
			"max_stream_duration, nginx grpc_read_timeout); --frames shows the RST_STREAM and which side sent it."
	case g.NoTrailers && strings.Contains(g.StatusMessage, "without sending trailers"):
		summary = fmt.Sprintf("the server ended the stream of %s after %s without a grpc-status trailer (END_STREAM on data)",
			g.Method, msgs)
		advice = "A gRPC call must end with trailers that carry grpc-status; this stream ended after its data without " +
			"them, so clients fail it with INTERNAL even if every message arrived. That is the mark of something that " +
			"is not gRPC-aware on the path: a proxy that forwards HTTP/2 as plain HTTP or over an HTTP/1.1 hop and drops " +
			"trailers (nginx needs grpc_pass, not proxy_pass; some CDNs and load balancers strip trailers), or a server " +
			"that writes gRPC frames by hand and forgets the trailers."
	case g.NoTrailers:
		summary = fmt.Sprintf("the stream of %s ended after %s without a grpc-status trailer: %s", g.Method, msgs, clip(g.StatusMessage))
		advice = "The connection or stream went away before the call finished: the server process restarted or " +
			"crashed, or a proxy or firewall closed the connection. Check the server's and proxies' logs at that time " +
			"and their idle and connection-age limits (grpc MaxConnectionAge needs MaxConnectionAgeGrace for streams)."
	default:
		summary = fmt.Sprintf("the stream of %s ended with status OK after %s", g.Method, msgs)
		advice = "The server ended the call normally but sent fewer messages than --expect-messages asks for. Either " +
			"the expectation is wrong for this request, or the handler stopped early (a page size or limit, an " +
			"empty data source, an error it swallowed): check what it streams for this request."
	}
	return &Finding{
		ID: IDGRPCStreamTruncated, Severity: probe.SeverityCritical, Phase: grpcPhase(r),
		Summary: summary, Evidence: ev, Advice: advice,
	}
}
