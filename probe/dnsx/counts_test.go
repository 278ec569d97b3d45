package dnsx_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/internal/probetest"
)

// sectionsHandler answers every query with two A records, one NS record
// in the authority section and two glue records in the additional one,
// plus the EDNS OPT pseudo-record when the query carried EDNS0 (pathlens's
// does). empty.test. gets NOERROR with nothing in any section.
type sectionsHandler struct{}

func (sectionsHandler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	if q.IsEdns0() != nil {
		defer m.SetEdns0(1232, false)
	}
	if q.Question[0].Name == "empty.test." {
		_ = w.WriteMsg(m)
		return
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	m.Answer = []dns.RR{rr("www.test. 60 IN A 192.0.2.1"), rr("www.test. 60 IN A 192.0.2.2")}
	m.Ns = []dns.RR{rr("test. 60 IN NS ns1.test.")}
	m.Extra = []dns.RR{rr("ns1.test. 60 IN A 192.0.2.53"), rr("ns1.test. 60 IN AAAA 2001:db8::53")}
	_ = w.WriteMsg(m)
}

// TestSectionCounts: a dns probe counts the authority and additional
// records of the answer (the OPT pseudo-record left out) and the JSON
// result carries them as dns.authority_rrs and dns.additional_rrs, absent
// when 0.
func TestSectionCounts(t *testing.T) {
	srv := probetest.StartDNS(t, sectionsHandler{})
	r := probetest.Run(t, "dns://"+srv+"/www.test", nil)
	if !r.Success || r.DNS == nil {
		t.Fatalf("probe failed: %s", probetest.ErrString(r))
	}
	if d := r.DNS; len(d.Answers) != 2 || d.AuthorityRRs != 1 || d.AdditionalRRs != 2 {
		t.Errorf("answers %d authority %d additional %d, want 2, 1 and 2 (OPT not counted)", len(d.Answers), d.AuthorityRRs, d.AdditionalRRs)
	}
	b, err := json.Marshal(r.DNS)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"authority_rrs":1`) || !strings.Contains(s, `"additional_rrs":2`) {
		t.Errorf("dns JSON lacks the counts: %s", s)
	}

	r = probetest.Run(t, "dns://"+srv+"/empty.test", nil)
	if !r.Success || r.DNS == nil {
		t.Fatalf("probe failed: %s", probetest.ErrString(r))
	}
	if r.DNS.AuthorityRRs != 0 || r.DNS.AdditionalRRs != 0 {
		t.Errorf("empty answer: authority %d additional %d, want 0 and 0", r.DNS.AuthorityRRs, r.DNS.AdditionalRRs)
	}
	b, _ = json.Marshal(r.DNS)
	if s := string(b); strings.Contains(s, "authority_rrs") || strings.Contains(s, "additional_rrs") {
		t.Errorf("empty answer: counts present in JSON: %s", s)
	}
}
