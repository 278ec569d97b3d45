package diagnose

import (
	"fmt"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// icmpLoss is ICMP_LOSS: some echo requests got no reply (warning), or
// none did (critical; the probe then failed with class connect, cause
// no_reply). It stays quiet when the budget ran out or the probe was
// canceled: the requests still in flight then had no chance to be
// answered, and PROBE_TIMEOUT says what happened.
func icmpLoss(r *probe.Result) *Finding {
	ic := r.ICMP
	if ic == nil || ic.Sent <= 0 || ic.Received >= ic.Sent || errClass(r, probe.ClassTimeout, probe.ClassCanceled) {
		return nil
	}
	lost := ic.Sent - ic.Received
	ev := evidence{
		"sent": ic.Sent, "received": ic.Received, "lost": lost, "loss_pct": round(ic.LossPct, 3),
	}.set("addr", ic.Addr)
	if ic.Received > 0 {
		ev["min_ms"], ev["avg_ms"] = msEv(ic.MinMS), msEv(ic.AvgMS)
		ev["max_ms"], ev["stddev_ms"] = msEv(ic.MaxMS), msEv(ic.StdDevMS)
	}
	if d, ok := phaseOf(r, probe.PhaseEcho); ok {
		ev["echo_ms"] = msEv(d.DurationMS)
	}
	to := ic.Addr
	if to == "" {
		to = targetHost(r)
	}
	if to == "" {
		to = "the target"
	}
	sev := probe.SeverityWarning
	var summary string
	if ic.Received == 0 {
		sev = probe.SeverityCritical
		summary = fmt.Sprintf("no reply from %s to any of %d ICMP echo request%s (100 %% loss)", to, ic.Sent, plural(ic.Sent))
	} else {
		summary = fmt.Sprintf("%d of %d ICMP echo requests to %s got no reply (%s loss); replies took %s min, %s avg, %s max",
			lost, ic.Sent, to, lossWords(ic.LossPct, lost, ic.Sent), fmtMS(ic.MinMS), fmtMS(ic.AvgMS), fmtMS(ic.MaxMS))
	}
	return &Finding{
		ID: IDICMPLoss, Severity: sev, Phase: probe.PhaseEcho,
		Summary: summary, Evidence: ev, Advice: icmpLossAdvice(ic.Received == 0),
	}
}

// lossWords formats a loss percentage without ever rounding partial loss
// to 0 % or 100 %.
func lossWords(lossPct float64, lost, sent int) string {
	if lossPct <= 0 || lossPct > 100 { // absent or inconsistent: recompute
		lossPct = float64(lost) / float64(sent) * 100
	}
	s := fmt.Sprintf("%.1f", lossPct)
	switch {
	case s == "100.0":
		s = "99.9"
	case s == "0.0":
		s = "0.1"
	}
	return strings.TrimSuffix(s, ".0") + " %"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func icmpLossAdvice(total bool) string {
	const compare = " Compare with a TCP probe to a port the host serves (pathlens check tcp://HOST:PORT): if TCP connects " +
		"promptly every time, the loss is ICMP-specific; if TCP also times out or stalls, the loss is real — run mtr HOST " +
		"to see at which hop it starts (loss that starts at one hop but does not carry on to the later hops is that " +
		"router's ICMP rate limit, not loss)."
	if total {
		return "No echo reply at all: either the host is down or unreachable, or something drops ICMP — many firewalls, " +
			"cloud security groups and host firewalls (Windows by default) block echo requests or replies while the " +
			"services on the host work fine. Allow ICMP echo request/reply on the path (security group, iptables/nftables " +
			"INPUT and OUTPUT) if you want to monitor with ping." + compare
	}
	return "Some echo requests went unanswered. Routers and hosts rate-limit the ICMP they answer (Linux " +
		"net.ipv4.icmp_ratelimit, control-plane policing on routers), so a burst of pings can show loss the real " +
		"traffic never sees: retry with a longer --icmp-interval (e.g. 1s) and a larger --icmp-count before concluding. " +
		"A firewall or policer that drops only part of the ICMP (a per-second ICMP limit, one of several load-balanced " +
		"paths filtering it) looks the same. Persistent loss at a steady rate points at a congested or faulty link (check interface error and drop counters) " +
		"or a wireless hop." + compare
}
