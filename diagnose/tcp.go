package diagnose

import (
	"fmt"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// connectAttempts returns the connect attempts as evidence and the list of
// addresses tried.
func connectAttempts(r *probe.Result) ([]map[string]any, []string) {
	if r.Conn == nil {
		return nil, nil
	}
	var out []map[string]any
	var addrs []string
	for _, a := range r.Conn.Attempts {
		m := map[string]any{"addr": a.Addr, "duration_ms": msEv(a.DurationMS)}
		if a.Error != "" {
			m["error"] = a.Error
		}
		if a.Canceled {
			m["canceled"] = true
		}
		out = append(out, m)
		addrs = append(addrs, a.Addr)
	}
	return out, addrs
}

// connectEvidence is the evidence every TCP finding carries.
func connectEvidence(r *probe.Result) (evidence, []string) {
	attempts, addrs := connectAttempts(r)
	ev := evidence{}.set("addrs", addrs)
	if attempts != nil {
		ev["attempts"] = attempts
	}
	if d, ok := phaseOf(r, probe.PhaseConnect); ok {
		ev["connect_ms"] = msEv(d.DurationMS)
	}
	if r.Error != nil {
		ev.set("cause", r.Error.Cause).set("message", r.Error.Message)
	}
	return ev, addrs
}

// addrWords names the addresses tried for a summary.
func addrWords(addrs []string, r *probe.Result) string {
	switch len(addrs) {
	case 0:
		if h := targetHost(r); h != "" {
			return h
		}
		return "the server"
	case 1:
		return addrs[0]
	}
	return "every address tried (" + strings.Join(addrs, ", ") + ")"
}

func tcpRefusedApplies(r *probe.Result) bool {
	return errClass(r, probe.ClassConnect) && r.Error.Cause == probe.CauseRefused
}

// tcpTimeoutApplies reports whether the time ran out with connect in
// flight: the budget or, in the client package, a dial bound (class
// timeout). No connect failure has cause timeout; that is the resolver's.
func tcpTimeoutApplies(r *probe.Result) bool {
	e := r.Error
	return e != nil && e.Class == probe.ClassTimeout && e.Phase == probe.PhaseConnect
}

// tcpRefused is TCP_REFUSED.
func tcpRefused(r *probe.Result) *Finding {
	if !tcpRefusedApplies(r) {
		return nil
	}
	ev, addrs := connectEvidence(r)
	return &Finding{
		ID: IDTCPRefused, Severity: probe.SeverityCritical, Phase: probe.PhaseConnect,
		Summary:  fmt.Sprintf("connection refused (RST) by %s: nothing is listening there, or a firewall rejects the port", addrWords(addrs, r)),
		Evidence: ev,
		Advice: "Check the service is running and listening on that address and port (ss -ltnp on the host). " +
			"A server bound to 127.0.0.1 refuses connections to the host's other addresses: bind 0.0.0.0/[::] (nginx listen, " +
			"Go net.Listen(\"tcp\", \":PORT\")). Behind a load balancer or Kubernetes Service, check the targetPort matches " +
			"the container port. A firewall rule with REJECT --reject-with tcp-reset looks the same.",
	}
}

// tcpTimeout is TCP_TIMEOUT.
func tcpTimeout(r *probe.Result) *Finding {
	if !tcpTimeoutApplies(r) {
		return nil
	}
	ev, addrs := connectEvidence(r)
	waited := ""
	if d, ok := phaseOf(r, probe.PhaseConnect); ok {
		waited = " after " + fmtMS(d.DurationMS)
	}
	return &Finding{
		ID: IDTCPTimeout, Severity: probe.SeverityCritical, Phase: probe.PhaseConnect,
		Summary:  fmt.Sprintf("no answer to SYN from %s%s: packets are dropped, not refused", addrWords(addrs, r), waited),
		Evidence: ev,
		Advice: "Something silently drops the connection attempt: a firewall or cloud security group with DROP instead of " +
			"REJECT, a wrong or stale IP address (check the DNS answer), the host being down, or a routing problem. " +
			"Test from the same host with nc -vz HOST PORT and watch with tcpdump 'tcp[tcpflags] & tcp-syn != 0' on the server: " +
			"if the SYN never arrives, the drop is in the network; if it arrives unanswered, the listen backlog is full " +
			"(raise net.core.somaxconn and the server's backlog) or a host firewall drops it.",
	}
}

// tcpConnectFailed is TCP_CONNECT_FAILED: the connect failed and neither
// TCP_REFUSED nor TCP_TIMEOUT explains it (unreachable, reset, …), nor
// was it never tried (PROBE_ADDRESS_DENIED).
func tcpConnectFailed(r *probe.Result) *Finding {
	if !errClass(r, probe.ClassConnect) || tcpRefusedApplies(r) || tcpTimeoutApplies(r) || icmpLoss(r) != nil || probeAddressDenied(r) != nil {
		return nil
	}
	ev, addrs := connectEvidence(r)
	var summary, advice string
	switch r.Error.Cause {
	case probe.CauseUnreachable:
		summary = fmt.Sprintf("cannot reach %s: no route to the host or network (%s)", addrWords(addrs, r), r.Error.Message)
		advice = "The local host or a router answered that the destination is unreachable. Check the route (ip route get ADDR), " +
			"that the address is in a network this host can reach (VPN up, correct subnet), and for IPv6 that the host has " +
			"IPv6 connectivity at all — if not, use --ipv4 or remove the AAAA record."
	case probe.CauseReset:
		summary = fmt.Sprintf("the connection to %s was reset while connecting (%s)", addrWords(addrs, r), r.Error.Message)
		advice = "A middlebox or the server reset the connection during the TCP handshake: check firewalls, connection " +
			"limits and SYN-flood protection on the path, and the server's accept queue."
	default:
		summary = fmt.Sprintf("TCP connect to %s failed: %s", addrWords(addrs, r), r.Error.Message)
		advice = "Check that the address is right and reachable from this host (nc -vz HOST PORT), and the local " +
			"resources (file descriptors, ephemeral ports) of the probing host."
	}
	return &Finding{
		ID: IDTCPConnectFailed, Severity: probe.SeverityCritical, Phase: probe.PhaseConnect,
		Summary: summary, Evidence: ev, Advice: advice,
	}
}
