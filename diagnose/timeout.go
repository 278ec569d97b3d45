package diagnose

import (
	"fmt"

	"github.com/pathlens/pathlens/probe"
)

// probeTimeout is PROBE_TIMEOUT: the budget ran out. It names the phase in
// flight and lists the time every phase took so far; it fires alongside
// DNS_FAILED or TCP_TIMEOUT when the budget ran out in those phases.
func probeTimeout(r *probe.Result) *Finding {
	e := r.Error
	if e == nil || e.Class != probe.ClassTimeout {
		return nil
	}
	phases := map[string]any{}
	for _, p := range r.Phases {
		phases[p.Name] = msEv(p.DurationMS)
	}
	ev := evidence{"phases": phases, "elapsed_ms": msEv(r.TotalMS)}.set("phase", e.Phase).set("message", e.Message)
	budget := "the probe's budget"
	if r.TimeoutMS > 0 {
		ev["budget_ms"] = msEv(r.TimeoutMS)
		budget = "the " + fmtBudget(r.TimeoutMS) + " budget"
	}
	where := "inside " + phaseWords(e.Phase)
	if e.Phase == "" {
		where = "with no phase in flight"
	}
	summary := fmt.Sprintf("%s ran out %s", budget, where)
	if p, ok := phaseOf(r, e.Phase); ok && e.Phase != "" {
		ev["phase_ms"] = msEv(p.DurationMS)
		summary += fmt.Sprintf(" (%s phase, %s in)", e.Phase, fmtMS(p.DurationMS))
	} else if r.TotalMS > 0 {
		summary += fmt.Sprintf(" (after %s)", fmtMS(r.TotalMS))
	}
	return &Finding{
		ID: IDProbeTimeout, Severity: probe.SeverityCritical, Phase: e.Phase,
		Summary:  summary,
		Evidence: ev,
		Advice:   timeoutAdvice(e.Phase),
	}
}

func timeoutAdvice(phase string) string {
	const raise = " Raise --timeout only if this slowness is expected; a health check that needs more than a few seconds hides the next outage."
	switch phase {
	case probe.PhaseDNS, probe.PhaseQuery:
		return "The resolver never answered: check it is reachable on port 53 (UDP and TCP) and alive, and the nameserver list in /etc/resolv.conf or --dns-server." + raise
	case probe.PhaseConnect:
		return "The SYN got no answer: a firewall or security group drops it, the address is wrong, or the host is down (see TCP_TIMEOUT)." + raise
	case probe.PhaseTLS:
		return "TCP connected but the handshake never finished: the TLS terminator accepted the connection and stalled (overloaded, stuck on a private-key operation or an OCSP/CRL fetch), or the port serves a protocol that waits for the client to speak something other than TLS. Try openssl s_client -connect HOST:PORT -servername NAME and check the server's TLS worker health." + raise
	case probe.PhaseRequest:
		return "The server stopped reading the request: its receive window is full (overloaded or stuck) or a proxy is buffering the body. Check the server's accept and worker queues." + raise
	case probe.PhaseWait:
		return "The request was sent but no response byte came back in time: the application is stuck or overloaded (check its worker pool, database and upstream calls, and a proxy's upstream timeout)." + raise
	case probe.PhaseUpgrade:
		return "The WebSocket upgrade request was sent but no answer came back in time: the server or a proxy in front holds upgrade requests (a proxy buffering them as plain HTTP, or a backend that never accepts the upgrade). Try the same URL with websocat -v or curl --http1.1 and the upgrade headers." + raise
	case probe.PhaseTransfer:
		return "The response started but the body did not finish in time: the server streams slowly or without end, or the network throughput is very low. Probe an endpoint with a small body, and check the server's output buffering." + raise
	}
	return "The probe did not finish within its budget; the phases in the evidence show where the time went." + raise
}
