package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// blackboxDNS exports blackbox_exporter's dns prober series for a dns://
// probe, every one always (0 when the query got no response), as blackbox
// does:
//   - probe_dns_duration_seconds{phase=resolve|connect|request}: resolve
//     is pathlens's dns phase (0: a dns probe resolves no server name of
//     its own); pathlens times the exchange as one phase, query, from the
//     socket's creation to the response, so connect is 0 and request is
//     the query phase (0 when it did not finish, as for http phases);
//   - probe_dns_answer_rrs, probe_dns_authority_rrs,
//     probe_dns_additional_rrs: the records of each section of the
//     response (the EDNS OPT pseudo-record not counted); through the
//     system resolver (dns:///NAME) the answers it returned, and 0 for
//     the other two, which it does not say;
//   - probe_dns_query_succeeded: 1 when a response came back, whatever
//     its rcode;
//   - probe_dns_serial, for SOA queries only: the serial of the SOA
//     record of the answer (0 when none came).
func blackboxDNS(reg *prometheus.Registry, r *probe.Result) {
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_dns_duration_seconds",
		Help: "Duration of DNS request by phase",
	}, []string{"phase"})
	reg.MustRegister(dur)
	dur.WithLabelValues("resolve").Set(micros(firstLookupMS(r)))
	dur.WithLabelValues("connect")
	var request int64 // µs
	for _, p := range r.Phases {
		if p.Name == probe.PhaseQuery && !p.Incomplete {
			request += usOf(p.DurationMS)
		}
	}
	dur.WithLabelValues("request").Set(usSeconds(request))

	d := r.DNS
	if d == nil {
		d = &probe.DNSInfo{}
	}
	answers := len(d.Answers) + d.AnswersOmitted
	if answers == 0 {
		// The system resolver's addresses are the answer records.
		answers = len(d.Addrs) + d.AddrsOmitted
	}
	gauge(reg, "probe_dns_answer_rrs", "Returns number of entries in the answer resource record list", float64(answers))
	gauge(reg, "probe_dns_authority_rrs", "Returns number of entries in the authority resource record list", float64(d.AuthorityRRs))
	gauge(reg, "probe_dns_additional_rrs", "Returns number of entries in the additional resource record list", float64(d.AdditionalRRs))
	gauge(reg, "probe_dns_query_succeeded", "Displays whether or not the query was executed successfully", boolFloat(d.Rcode != ""))
	if d.Type == "SOA" {
		var serial float64
		for _, rr := range d.Answers {
			if s, ok := soaSerial(rr); ok {
				serial = float64(s) // the last SOA, as blackbox
			}
		}
		gauge(reg, "probe_dns_serial", "Returns the serial number of the zone", serial)
	}
}

// soaSerial reads the serial of an SOA record in presentation format
// ("NAME TTL CLASS SOA MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM",
// as miekg/dns writes it; a name holds no blank, which is escaped).
func soaSerial(rr string) (uint32, bool) {
	f := strings.Fields(rr)
	if len(f) != 11 || !strings.EqualFold(f[3], "SOA") {
		return 0, false
	}
	s, err := strconv.ParseUint(f[6], 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(s), true
}
