package diagnose

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// Policy finding IDs: the probe stopped because its own options forbid
// going on (probe.Options.CheckRedirect, probe.Options.DenyNetworks), not
// because the path failed. Both are additions to the contract's catalogue.
const (
	IDProbeRedirectRefused = "PROBE_REDIRECT_REFUSED"
	IDProbeAddressDenied   = "PROBE_ADDRESS_DENIED"
)

// probeRedirectRefused is PROBE_REDIRECT_REFUSED: a redirect led to a URL
// that the probe's CheckRedirect refused, so nothing was sent there.
func probeRedirectRefused(r *probe.Result) *Finding {
	e := r.Error
	if e == nil || e.Class != probe.ClassHTTP || e.Cause != probe.CauseRedirectRefused {
		return nil
	}
	ev := evidence{}.set("message", e.Message)
	var from, to string
	if h := r.HTTP; h != nil && len(h.Redirects) > 0 {
		rd := h.Redirects[len(h.Redirects)-1]
		from, to = redact(rd.URL), resolveRedacted(rd.URL, rd.Location)
		ev.set("from", from).set("location", to).set("reason", rd.Refused)
		ev["status"] = rd.Status
		ev["redirects"] = len(h.Redirects)
	}
	summary := "a redirect was refused: " + e.Message
	if from != "" && to != "" {
		summary = fmt.Sprintf("%s redirected to %s, which the probe may not follow", from, to)
		if reason, ok := ev["reason"].(string); ok {
			summary += ": " + reason
		}
	}
	return &Finding{
		ID: IDProbeRedirectRefused, Severity: probe.SeverityCritical, Phase: probe.PhaseWait,
		Summary:  summary,
		Evidence: ev,
		Advice: "The redirect leads outside what the probe may reach, so the probe stopped before sending anything " +
			"there (no DNS lookup, no connection). If the redirect is expected, point the target at the final URL; if " +
			"that host is meant to be probed, allow it (in pathlens serve: a probe_endpoint.allow pattern). If the " +
			"redirect is not expected, find what issues it (a proxy forcing a login page, a moved service, an open " +
			"redirect in the application).",
	}
}

// probeAddressDenied is PROBE_ADDRESS_DENIED: every address of a hop lies
// in a network the probe may not connect to, so no connection was made.
func probeAddressDenied(r *probe.Result) *Finding {
	e := r.Error
	if e == nil || e.Class != probe.ClassConnect || e.Cause != probe.CauseAddressDenied {
		return nil
	}
	ev := evidence{}.set("message", e.Message)
	var addrs, networks []string
	if c := r.Conn; c != nil {
		denied := make([]map[string]any, 0, len(c.Denied))
		seen := map[string]bool{}
		for _, d := range c.Denied {
			denied = append(denied, map[string]any{"addr": d.Addr, "network": d.Network})
			addrs = append(addrs, d.Addr)
			if !seen[d.Network] {
				seen[d.Network] = true
				networks = append(networks, d.Network)
			}
		}
		if len(denied) > 0 {
			ev["denied"] = denied
		}
		ev.set("networks", networks)
		if c.DeniedOmitted > 0 {
			ev["denied_omitted"] = c.DeniedOmitted
		}
	}
	name := ""
	if r.DNS != nil {
		name = r.DNS.Name
	}
	ev.set("name", name)
	if h := r.HTTP; h != nil && len(h.Redirects) > 0 {
		rd := h.Redirects[len(h.Redirects)-1]
		ev.set("from", redact(rd.URL)).set("location", resolveRedacted(rd.URL, rd.Location))
		ev["redirects"] = len(h.Redirects)
	}
	what := "the target"
	switch {
	case name != "":
		what = fmt.Sprintf("%q", name)
	case len(addrs) > 0:
		what = addrs[0]
	}
	summary := fmt.Sprintf("the probe may not connect to %s: every address is in a denied network", what)
	if len(networks) > 0 {
		summary += " (" + strings.Join(networks, ", ") + ")"
	}
	if from, ok := ev["from"].(string); ok {
		summary += "; a redirect from " + from + " led there"
	}
	return &Finding{
		ID: IDProbeAddressDenied, Severity: probe.SeverityCritical, Phase: probe.PhaseConnect,
		Summary:  summary,
		Evidence: ev,
		Advice: "The probe is configured never to connect to these networks (DenyNetworks; in pathlens serve: " +
			"probe_endpoint.deny_networks — typically loopback, link-local and private ranges kept out of reach of a " +
			"shared prober), so it stopped before any connection. If the name should not resolve there, fix its DNS " +
			"records (a record pointing at 127.0.0.1 or 10.x by mistake, or on purpose to reach internal services). If " +
			"the target is meant to be probed, probe it from a prober allowed to reach that network, or take the range " +
			"off the deny list. A redirect that leads there shows its origin in the evidence.",
	}
}

// redact returns raw without user name and password ("" when it does
// not parse).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}

// resolveRedacted resolves loc against base and returns it without user
// name and password; "" when either does not parse.
func resolveRedacted(base, loc string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ""
	}
	u, err := b.Parse(loc)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
