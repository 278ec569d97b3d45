package dnsx_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/dnsx" // registers dns
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func testZone() *probetest.Zone {
	return &probetest.Zone{
		Records: map[string][]string{
			"svc.test.":  {"svc.test. 60 IN A 127.0.0.1"},
			"two.test.":  {"two.test. 60 IN A 127.0.0.1", "two.test. 60 IN A 127.0.0.2"},
			"v6.test.":   {"v6.test. 60 IN AAAA ::1"},
			"txt.test.":  {`txt.test. 60 IN TXT "hello world"`},
			"mx.test.":   {"mx.test. 60 IN MX 10 mail.test."},
			"big.test.":  {`big.test. 60 IN TXT "only over tcp"`},
			"fail.test.": nil,
			"deny.test.": nil,
		},
		Rcodes:   map[string]int{"fail.test.": dns.RcodeServerFailure, "deny.test.": dns.RcodeRefused},
		Truncate: map[string]bool{"big.test.": true},
	}
}

func TestQuery(t *testing.T) {
	z := testZone()
	srv := probetest.StartDNS(t, z)
	tests := []struct {
		name        string
		path        string
		wantType    string
		wantRcode   string
		wantAddrs   []string
		wantAnswers []string // substrings, one answer each, in order
		wantCause   string   // "" = success
	}{
		{name: "A", path: "svc.test", wantType: "A", wantRcode: "NOERROR", wantAddrs: []string{"127.0.0.1"},
			wantAnswers: []string{"svc.test.\t60\tIN\tA\t127.0.0.1"}},
		{name: "two A", path: "two.test?type=a", wantType: "A", wantRcode: "NOERROR", wantAddrs: []string{"127.0.0.1", "127.0.0.2"},
			wantAnswers: []string{"127.0.0.1", "127.0.0.2"}},
		{name: "AAAA", path: "v6.test?type=AAAA", wantType: "AAAA", wantRcode: "NOERROR", wantAddrs: []string{"::1"},
			wantAnswers: []string{"\tAAAA\t::1"}},
		{name: "AAAA no data", path: "svc.test?type=AAAA", wantType: "AAAA", wantRcode: "NOERROR"},
		{name: "TXT", path: "txt.test?type=TXT", wantType: "TXT", wantRcode: "NOERROR", wantAnswers: []string{`"hello world"`}},
		{name: "MX", path: "mx.test?type=MX", wantType: "MX", wantRcode: "NOERROR", wantAnswers: []string{"MX\t10 mail.test."}},
		{name: "truncated over UDP, answered over TCP", path: "big.test?type=TXT", wantType: "TXT", wantRcode: "NOERROR",
			wantAnswers: []string{`"only over tcp"`}},
		{name: "NXDOMAIN", path: "missing.test", wantType: "A", wantRcode: "NXDOMAIN", wantCause: "nxdomain"},
		{name: "SERVFAIL", path: "fail.test", wantType: "A", wantRcode: "SERVFAIL", wantCause: "servfail"},
		{name: "REFUSED", path: "deny.test", wantType: "A", wantRcode: "REFUSED", wantCause: "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probetest.Run(t, "dns://"+srv+"/"+tt.path, nil)
			if r.Kind != "dns" {
				t.Errorf("kind = %q, want dns", r.Kind)
			}
			if got := probetest.PhaseNames(r); !slices.Equal(got, []string{"query"}) {
				t.Errorf("phases = %v, want [query]", got)
			}
			if len(r.Phases) == 1 && (r.Phases[0].DurationMS < 0 || r.Phases[0].Incomplete || r.TotalMS < r.Phases[0].DurationMS) {
				t.Errorf("query phase %+v total %v, want complete, ≥ 0 and within the total", r.Phases[0], r.TotalMS)
			}
			if r.Conn != nil || r.TLS != nil || r.HTTP != nil {
				t.Errorf("conn/tls/http blocks present, want only dns")
			}
			d := r.DNS
			if d == nil {
				t.Fatal("dns block is nil")
			}
			name := strings.SplitN(tt.path, "?", 2)[0] + "."
			if d.Name != name || d.Type != tt.wantType || d.Server != srv || d.Source != "dns" || d.Rcode != tt.wantRcode {
				t.Errorf("dns = {name %q type %q server %q source %q rcode %q}, want {%q %q %q dns %q}",
					d.Name, d.Type, d.Server, d.Source, d.Rcode, name, tt.wantType, srv, tt.wantRcode)
			}
			if !slices.Equal(d.Addrs, tt.wantAddrs) {
				t.Errorf("addrs = %q, want %q", d.Addrs, tt.wantAddrs)
			}
			if len(d.Answers) != len(tt.wantAnswers) {
				t.Errorf("answers = %q, want %d", d.Answers, len(tt.wantAnswers))
			} else {
				for i, w := range tt.wantAnswers {
					if !strings.Contains(d.Answers[i], w) {
						t.Errorf("answer %d = %q, want it to contain %q", i, d.Answers[i], w)
					}
				}
			}
			if tt.wantCause == "" {
				if !r.Success || r.Error != nil {
					t.Errorf("success = %v error = %s, want success", r.Success, probetest.ErrString(r))
				}
				return
			}
			if r.Success || r.Error == nil || r.Error.Class != probe.ClassDNS || r.Error.Cause != tt.wantCause || r.Error.Phase != "query" {
				t.Errorf("error = %s, want dns/%s in query", probetest.ErrString(r), tt.wantCause)
			}
		})
	}
	if q := z.Seen(); !slices.Contains(q, "tcp big.test. TXT") || !slices.Contains(q, "udp big.test. TXT") {
		t.Errorf("server saw %q, want big.test. asked over UDP then TCP", q)
	}
}

// TestServerFromOptions: dns:///name asks Options.DNSServer when it is set.
func TestServerFromOptions(t *testing.T) {
	z := testZone()
	srv := probetest.StartDNS(t, z)
	r := probetest.Run(t, "dns:///txt.test?type=TXT", &probe.Options{DNSServer: srv})
	if !r.Success {
		t.Fatalf("error = %s, want success", probetest.ErrString(r))
	}
	if r.DNS.Server != srv || r.DNS.Source != "dns" || !anyContains(r.DNS.Answers, `"hello world"`) {
		t.Errorf("dns = %+v, want server %s, source dns, the TXT answer", r.DNS, srv)
	}
	if q := z.Seen(); !slices.Equal(q, []string{"udp txt.test. TXT"}) {
		t.Errorf("server saw %q, want one UDP TXT query", q)
	}
}

func TestNoAnswerTimeout(t *testing.T) {
	srv := probetest.BlackHoleDNS(t)
	start := time.Now()
	r := probetest.Run(t, "dns://"+srv+"/svc.test", &probe.Options{Timeout: 300 * time.Millisecond})
	elapsed := time.Since(start)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "query" {
		t.Fatalf("error = %s, want a timeout in query", probetest.ErrString(r))
	}
	if len(r.Phases) != 1 || r.Phases[0].Name != "query" || !r.Phases[0].Incomplete {
		t.Errorf("phases = %+v, want query incomplete", r.Phases)
	}
	if r.TotalMS < 290 || r.TotalMS > 1000 || elapsed > time.Second {
		t.Errorf("total_ms = %v (took %v), want ≈300", r.TotalMS, elapsed)
	}
	if r.DNS == nil || r.DNS.Rcode != "" {
		t.Errorf("dns = %+v, want no rcode without an answer", r.DNS)
	}
}

// TestNoAnswerIsAlwaysTheBudget: the exchange's own deadline is the
// budget's, so a server that never answers gives the same answer on every
// run, ten at a time: class timeout, cause deadline, phase query.
func TestNoAnswerIsAlwaysTheBudget(t *testing.T) {
	tg, err := probe.ParseTarget("dns://" + probetest.BlackHoleDNS(t) + "/svc.test")
	if err != nil {
		t.Fatal(err)
	}
	const runs, together = 30, 10
	got := make([]string, runs)
	done := make(chan struct{}, together)
	for i := range runs {
		go func() {
			defer func() { done <- struct{}{} }()
			r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 100 * time.Millisecond})
			got[i] = "success"
			if r.Error != nil {
				got[i] = string(r.Error.Class) + "/" + r.Error.Cause + " in " + r.Error.Phase
			}
		}()
		if i%together == together-1 {
			for range together {
				<-done
			}
		}
	}
	for i, g := range got {
		if g != "timeout/deadline in query" {
			t.Errorf("run %d: %s, want timeout/deadline in query", i, g)
		}
	}
}

func hostsHasLocalhost() bool {
	f, err := os.Open("/etc/hosts")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.SplitN(sc.Text(), "#", 2)[0])
		if len(fields) > 1 && fields[0] == "127.0.0.1" && slices.Contains(fields[1:], "localhost") {
			return true
		}
	}
	return false
}

// loopbackResolver points net.DefaultResolver at a loopback server for
// the test, so that whatever the system path would send to the network
// reaches z instead (and the test can see it).
func loopbackResolver(t *testing.T) *probetest.Zone {
	t.Helper()
	z := &probetest.Zone{}
	srv := probetest.StartDNS(t, z)
	old := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv)
	}}
	t.Cleanup(func() { net.DefaultResolver = old })
	return z
}

func TestSystemResolver(t *testing.T) {
	t.Run("localhost A", func(t *testing.T) {
		if !hostsHasLocalhost() {
			t.Skip("/etc/hosts has no 127.0.0.1 localhost line")
		}
		z := loopbackResolver(t)
		r := probetest.Run(t, "dns:///localhost", nil)
		// localhost is answered from /etc/hosts, without a DNS query.
		if q := z.Seen(); len(q) != 0 {
			t.Errorf("DNS queries sent: %q, want none", q)
		}
		if !r.Success {
			t.Fatalf("error = %s, want success", probetest.ErrString(r))
		}
		if !slices.Contains(r.DNS.Addrs, "127.0.0.1") || r.DNS.Server != "system" || r.DNS.Source != "system" || r.DNS.Rcode != "NOERROR" {
			t.Errorf("dns = %+v, want 127.0.0.1 from the system resolver", r.DNS)
		}
		if got := probetest.PhaseNames(r); !slices.Equal(got, []string{"query"}) {
			t.Errorf("phases = %v, want [query]", got)
		}
	})
	for _, qt := range []string{"SRV", "SOA", "CAA"} {
		t.Run(qt+" needs a server", func(t *testing.T) {
			z := loopbackResolver(t)
			r := probetest.Run(t, "dns:///localhost?type="+qt, nil)
			if q := z.Seen(); len(q) != 0 {
				t.Errorf("DNS queries sent: %q, want none", q)
			}
			if r.Success || r.Error == nil || r.Error.Class != probe.ClassConfig || r.Error.Cause != "qtype" {
				t.Fatalf("error = %s, want class config cause qtype", probetest.ErrString(r))
			}
			if !strings.Contains(r.Error.Message, "dns://SERVER/") {
				t.Errorf("message %q does not say how to name a server", r.Error.Message)
			}
		})
	}
}

// TestHugeAnswerListed: a dns probe of a name with 4,094 A records lists
// MaxListedAnswers records and MaxListedAddrs addresses and counts the
// rest, so a hostile server cannot blow up the output, the database or
// the UI.
func TestHugeAnswerListed(t *testing.T) {
	const n = 4094
	srv := probetest.StartDNS(t, &probetest.ManyA{N: n})
	r := probetest.Run(t, "dns://"+srv+"/many.test", &probe.Options{})
	if r.DNS == nil {
		t.Fatalf("no dns block: %s", probetest.ErrString(r))
	}
	if got := len(r.DNS.Answers); got != probe.MaxListedAnswers || r.DNS.AnswersOmitted != n-probe.MaxListedAnswers {
		t.Errorf("answers: %d listed, %d omitted; want %d and %d", got, r.DNS.AnswersOmitted, probe.MaxListedAnswers, n-probe.MaxListedAnswers)
	}
	if got := len(r.DNS.Addrs); got != probe.MaxListedAddrs || r.DNS.AddrsOmitted != n-probe.MaxListedAddrs {
		t.Errorf("addrs: %d listed, %d omitted; want %d and %d", got, r.DNS.AddrsOmitted, probe.MaxListedAddrs, n-probe.MaxListedAddrs)
	}
	if b, _ := json.Marshal(r); len(b) > 16<<10 {
		t.Errorf("the result is %d bytes of JSON", len(b))
	}
}
