package diagnose

import (
	"fmt"

	"github.com/pathlens/pathlens/probe"
)

// DNS_SLOW thresholds.
const (
	// dnsSlowMS: a lookup over this is slow whatever the rest of the probe did.
	dnsSlowMS = 100.0
	// dnsSlowShare: a lookup over this share of the whole probe is slow…
	dnsSlowShare = 0.5
	// dnsSlowShareFloorMS: …but only above this, so a 1 ms loopback lookup
	// in a 2 ms probe is not an alarm.
	dnsSlowShareFloorMS = 20.0
)

// dnsFailedApplies: the name did not resolve, or the budget ran out while
// resolving it.
func dnsFailedApplies(r *probe.Result) bool {
	e := r.Error
	if e == nil {
		return false
	}
	return e.Class == probe.ClassDNS ||
		(e.Class == probe.ClassTimeout && (e.Phase == probe.PhaseDNS || e.Phase == probe.PhaseQuery))
}

// resolverWords names what answered the lookup, for a summary.
func resolverWords(d *probe.DNSInfo) string {
	switch {
	case d == nil:
		return "the resolver"
	case d.Source == "resolve":
		return "the --resolve entry"
	case d.Server == "" || d.Server == "system":
		return "the system resolver"
	}
	return "resolver " + d.Server
}

// dnsFailed is DNS_FAILED.
func dnsFailed(r *probe.Result) *Finding {
	if !dnsFailedApplies(r) {
		return nil
	}
	e := r.Error
	var name, server, rcode string
	if r.DNS != nil {
		name, server, rcode = r.DNS.Name, r.DNS.Server, r.DNS.Rcode
	}
	if name == "" {
		name = targetHost(r)
	}
	cause := e.Cause
	if e.Class == probe.ClassTimeout {
		cause = probe.CauseTimeout // the evidence says timeout for the budget too
	}
	who := resolverWords(r.DNS)
	ev := evidence{}.set("name", name).set("server", server).set("rcode", rcode).set("cause", cause).set("message", e.Message)
	if d, ok := phaseOf(r, probe.PhaseDNS); ok {
		ev["dns_ms"] = msEv(d.DurationMS)
	}

	var summary, advice string
	switch cause {
	case probe.CauseNXDomain:
		summary = fmt.Sprintf("%q does not exist: %s answered NXDOMAIN", name, who)
		advice = "The name is not in DNS. Check the spelling and the zone: is the record published (dig +trace NAME), " +
			"did a recent change delete it, is it only in a split-horizon/internal view this resolver does not serve? " +
			"In Kubernetes, a short name is expanded through the search list; use the FQDN (service.namespace.svc.cluster.local)."
	case probe.CauseServFail:
		summary = fmt.Sprintf("%s answered SERVFAIL for %q: it could not get an answer from the authoritative servers", who, name)
		advice = "SERVFAIL means the resolver failed, not that the name is missing: the zone's authoritative servers are down " +
			"or lame, or DNSSEC validation failed (expired RRSIG, DS mismatch after a key rollover). " +
			"Compare dig @AUTHORITATIVE NAME with dig +cd NAME (checking disabled); if +cd works, fix the zone's DNSSEC signatures."
	case probe.CauseTimeout:
		summary = fmt.Sprintf("no answer from %s for %q: timeout", who, name)
		advice = "The resolver did not answer. Check that it is reachable on UDP and TCP port 53 (firewall, security group), " +
			"that it is running, and the nameserver order and options timeout:/attempts: in /etc/resolv.conf — " +
			"a dead first nameserver costs a full timeout before the next one is tried."
	case probe.CauseRefused:
		summary = fmt.Sprintf("%s REFUSED to answer for %q", who, name)
		advice = "The server will not recurse for this client or is not authoritative for the zone. " +
			"Allow this client in its ACL (BIND allow-recursion / allow-query, unbound access-control), or point --dns-server " +
			"(or /etc/resolv.conf) at a resolver that serves this network."
	case probe.CauseNoAddress:
		summary = fmt.Sprintf("%q exists but has no address: %s", name, e.Message)
		advice = "The name exists but has no A/AAAA record of the address family asked for. Publish the missing record, " +
			"or drop --ipv4/--ipv6 so pathlens may use the other family; a CNAME to a name with no address shows up the same way."
	default:
		summary = fmt.Sprintf("resolving %q with %s failed: %s", name, who, e.Message)
		advice = "Check the resolver configuration (/etc/resolv.conf or --dns-server), that the resolver is reachable, " +
			"and query it by hand: dig @SERVER NAME."
	}
	phase := probe.PhaseDNS
	if e.Phase == probe.PhaseQuery {
		phase = probe.PhaseQuery
	}
	return &Finding{ID: IDDNSFailed, Severity: probe.SeverityCritical, Phase: phase, Summary: summary, Evidence: ev, Advice: advice}
}

// dnsSlow is DNS_SLOW.
func dnsSlow(r *probe.Result) *Finding {
	if dnsFailedApplies(r) {
		return nil
	}
	d, ok := completedPhase(r, probe.PhaseDNS)
	if !ok {
		return nil
	}
	overAbs := d > dnsSlowMS
	overShare := r.TotalMS > 0 && d > dnsSlowShare*r.TotalMS && d > dnsSlowShareFloorMS
	if !overAbs && !overShare {
		return nil
	}
	var name, server string
	if r.DNS != nil {
		name, server = r.DNS.Name, r.DNS.Server
	}
	ev := evidence{"dns_ms": msEv(d), "total_ms": msEv(r.TotalMS)}.set("server", server).set("name", name)
	summary := fmt.Sprintf("the DNS lookup of %q took %s", name, fmtMS(d))
	if r.TotalMS > 0 {
		share := d / r.TotalMS
		ev["share"] = round(share, 2)
		summary += fmt.Sprintf(", %s of the %s probe", pct(share), fmtMS(r.TotalMS))
	}
	summary += fmt.Sprintf(" (%s)", resolverWords(r.DNS))
	return &Finding{
		ID: IDDNSSlow, Severity: probe.SeverityWarning, Phase: probe.PhaseDNS,
		Summary:  summary,
		Evidence: ev,
		Advice: "Use a nearby caching resolver (systemd-resolved, nscd, a node-local dnsmasq/unbound or Kubernetes NodeLocal DNSCache) " +
			"so repeat lookups are answered from cache. Check /etc/resolv.conf: a slow or dead first nameserver and a long search " +
			"list (ndots:5 in Kubernetes turns one lookup into several) both add round trips; use the FQDN with a trailing dot. " +
			"If the authoritative servers are slow, raise the record's TTL so caches keep it longer.",
	}
}
