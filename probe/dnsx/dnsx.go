// Package dnsx probes dns:// targets: one query (phase query) to the named
// server with miekg/dns, or through the system resolver for dns:///name.
package dnsx

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/probe"
)

func init() {
	probe.RegisterKind(probe.Kind{Name: "dns", Schemes: []string{"dns"}, Phases: []string{probe.PhaseDNS, probe.PhaseQuery},
		Sections: []string{"dns"}, Prober: probe.ProberFunc(Probe)})
}

// Probe sends the query and records rcode and answers. NXDOMAIN, SERVFAIL
// and REFUSED are failures of class dns; an empty NOERROR answer is a
// success with no answers.
func Probe(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	info := &probe.DNSInfo{Name: t.QName, Type: dns.TypeToString[t.QType]}
	r.DNS = info
	server := t.DNSServer
	if server == "" {
		server = o.DNSServer
	}
	if server == "" {
		return systemQuery(ctx, t, rec, info)
	}
	info.Server, info.Source = server, "dns"
	rec.Begin(probe.PhaseQuery)
	m, err := probe.Exchange(ctx, server, t.QName, t.QType)
	rec.End(probe.PhaseQuery)
	if err != nil {
		if probe.OwnTimeout(ctx, err) {
			return &probe.PhaseError{Phase: probe.PhaseQuery, Class: probe.ClassDNS, Cause: probe.CauseTimeout, Err: err}
		}
		pe := probe.Classify(ctx, probe.PhaseQuery, probe.ClassDNS, err)
		if pe.Class == probe.ClassDNS && pe.Cause == "" {
			pe.Cause = probe.CauseNoAnswer
		}
		return pe
	}
	info.Rcode = dns.RcodeToString[m.Rcode]
	info.AuthorityRRs = len(m.Ns)
	for _, rr := range m.Extra {
		// The query carries EDNS0, so the server's OPT comes back in the
		// additional section: it is not a record of the answer.
		if _, opt := rr.(*dns.OPT); !opt {
			info.AdditionalRRs++
		}
	}
	for _, rr := range m.Answer {
		info.AddAnswer(rr.String())
		switch v := rr.(type) {
		case *dns.A:
			info.AddAddr(v.A.String())
		case *dns.AAAA:
			info.AddAddr(v.AAAA.String())
		}
	}
	if m.Rcode != dns.RcodeSuccess {
		return probe.Errorf(probe.PhaseQuery, probe.ClassDNS, probe.RcodeCause(m.Rcode), "%s %s: %s from %s", t.QName, info.Type, info.Rcode, server)
	}
	return nil
}

// systemQuery asks the system resolver. Only address and a few common
// types are possible there; others need an explicit server.
func systemQuery(ctx context.Context, t probe.Target, rec *probe.Recorder, info *probe.DNSInfo) error {
	info.Server, info.Source = "system", "system"
	// The name as written, without the root dot: Go's resolver keys
	// single-label /etc/hosts names (localhost) without it, so
	// "localhost." would skip the hosts file and go to DNS.
	name := strings.TrimSuffix(t.QName, ".")
	rec.Begin(probe.PhaseQuery)
	defer rec.End(probe.PhaseQuery)
	switch t.QType {
	case dns.TypeA, dns.TypeAAAA:
		network := "ip4"
		if t.QType == dns.TypeAAAA {
			network = "ip6"
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, name)
		if err != nil {
			return classifySystem(ctx, err, info)
		}
		info.Rcode = "NOERROR"
		for _, a := range addrs {
			info.AddAddr(netip.Addr.Unmap(a).String())
		}
	case dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeCNAME:
		var answers []string
		var err error
		switch t.QType {
		case dns.TypeMX:
			var mx []*net.MX
			if mx, err = net.DefaultResolver.LookupMX(ctx, name); err == nil {
				for _, m := range mx {
					answers = append(answers, m.Host)
				}
			}
		case dns.TypeTXT:
			answers, err = net.DefaultResolver.LookupTXT(ctx, name)
		case dns.TypeNS:
			var ns []*net.NS
			if ns, err = net.DefaultResolver.LookupNS(ctx, name); err == nil {
				for _, n := range ns {
					answers = append(answers, n.Host)
				}
			}
		case dns.TypeCNAME:
			var c string
			if c, err = net.DefaultResolver.LookupCNAME(ctx, name); err == nil {
				answers = []string{c}
			}
		}
		if err != nil {
			return classifySystem(ctx, err, info)
		}
		info.Rcode = "NOERROR"
		for _, a := range answers {
			info.AddAnswer(a)
		}
	default:
		return probe.Errorf(probe.PhaseQuery, probe.ClassConfig, probe.CauseQType, "the system resolver cannot ask for %s records; name a server: dns://SERVER/%s?type=%s", info.Type, name, info.Type)
	}
	return nil
}

func classifySystem(ctx context.Context, err error, info *probe.DNSInfo) error {
	if de, ok := err.(*net.DNSError); ok && de.IsNotFound {
		info.Rcode = "NXDOMAIN"
		return &probe.PhaseError{Phase: probe.PhaseQuery, Class: probe.ClassDNS, Cause: probe.CauseNXDomain, Err: err}
	}
	if probe.OwnTimeout(ctx, err) {
		return &probe.PhaseError{Phase: probe.PhaseQuery, Class: probe.ClassDNS, Cause: probe.CauseTimeout, Err: err}
	}
	return probe.Classify(ctx, probe.PhaseQuery, probe.ClassDNS, err)
}
