// Package probetest holds the helpers the prober packages' tests share:
// run one probe with a default budget, check a Result's success or error
// (MustSucceed, WantError) and findings (FindingIDs), start a lab for one
// test (StartLab), describe a Result compactly in failure messages, and a
// goroutine-safe buffer for logs. It imports probe and lab, so neither of
// their in-package tests can use it.
package probetest

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/probe"
)

// Run parses target and runs one probe; a zero Options.Timeout becomes 5 s
// so a broken test fails instead of hanging on the 10 s default.
func Run(t testing.TB, target string, o *probe.Options) *probe.Result {
	t.Helper()
	tg, err := probe.ParseTarget(target)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", target, err)
	}
	if o == nil {
		o = &probe.Options{}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return probe.Run(context.Background(), tg, o)
}

// PhaseNames lists the phases of r in order.
func PhaseNames(r *probe.Result) []string {
	out := make([]string, len(r.Phases))
	for i, p := range r.Phases {
		out[i] = p.Name
	}
	return out
}

// ErrString describes r's error as class/cause in phase: message.
func ErrString(r *probe.Result) string {
	if r.Error == nil {
		return "<nil>"
	}
	return string(r.Error.Class) + "/" + r.Error.Cause + " in " + r.Error.Phase + ": " + r.Error.Message
}

// ServeDNS serves h with miekg/dns on each listener given (pc for UDP, ln
// for TCP; either may be nil) and stops them in Cleanup, waiting for each
// server goroutine to exit so goleak stays quiet.
func ServeDNS(t testing.TB, h dns.Handler, pc net.PacketConn, ln net.Listener) {
	t.Helper()
	var servers []*dns.Server
	if pc != nil {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h})
	}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: h})
	}
	for _, srv := range servers {
		started := make(chan struct{})
		exited := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			defer close(exited)
			_ = srv.ActivateAndServe()
		}()
		select {
		case <-started:
		case <-exited:
			t.Fatal("dns server did not start")
		}
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-exited
		})
	}
}

// ClosedPort returns a 127.0.0.1 TCP address nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Zone is a tiny authoritative DNS server's data: records by owner name
// (lower-case FQDN, presentation format) and rcodes forced per name;
// unknown names are NXDOMAIN. Names in Truncate get an empty, truncated
// answer over UDP (so the client must retry over TCP).
type Zone struct {
	Records  map[string][]string
	Rcodes   map[string]int
	Truncate map[string]bool

	mu      sync.Mutex
	queries []string // "net name TYPE" in arrival order
}

// ServeDNS answers one query from the zone.
func (z *Zone) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	qq := q.Question[0]
	name := strings.ToLower(qq.Name)
	network := w.LocalAddr().Network()
	z.mu.Lock()
	z.queries = append(z.queries, network+" "+name+" "+dns.TypeToString[qq.Qtype])
	z.mu.Unlock()
	if z.Truncate[name] && network == "udp" {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	rrs, known := z.Records[name]
	if rc, ok := z.Rcodes[name]; ok {
		m.Rcode = rc
	} else if !known {
		m.Rcode = dns.RcodeNameError
	}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err == nil && rr.Header().Rrtype == qq.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	_ = w.WriteMsg(m)
}

// Seen lists the queries received, as "net name TYPE" in arrival order.
func (z *Zone) Seen() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.queries)
}

// StartDNS serves h on 127.0.0.1 over UDP and TCP on the same port and
// returns the address; both servers stop in Cleanup.
func StartDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for i := 0; i < 20; i++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("no port free for both UDP and TCP: %v", err)
	}
	ServeDNS(t, h, pc, ln)
	return pc.LocalAddr().String()
}

// CheckTimeline checks the phase invariants: durations and starts ≥ 0,
// phases in order and non-overlapping, total ≥ the sum of durations and ≥
// the end of the last phase; with complete, no phase may be incomplete.
func CheckTimeline(t testing.TB, r *probe.Result, complete bool) {
	t.Helper()
	// Start and duration are each rounded to the µs, so a phase may
	// appear to begin up to 1 µs before the previous one ends.
	const eps = 0.001 + 1e-9
	sum := 0.0
	for i, p := range r.Phases {
		if p.DurationMS < 0 || p.StartMS < 0 {
			t.Errorf("phase %s: start %v duration %v; want both ≥ 0", p.Name, p.StartMS, p.DurationMS)
		}
		if complete && p.Incomplete {
			t.Errorf("phase %s is incomplete on a finished probe", p.Name)
		}
		if i > 0 {
			prev := r.Phases[i-1]
			if p.StartMS < prev.StartMS+prev.DurationMS-eps {
				t.Errorf("phase %s starts at %v, before %s ends at %v", p.Name, p.StartMS, prev.Name, prev.StartMS+prev.DurationMS)
			}
		}
		sum += p.DurationMS
	}
	if r.TotalMS < sum-eps {
		t.Errorf("total_ms = %v, want ≥ sum of phases %v", r.TotalMS, sum)
	}
	if n := len(r.Phases); n > 0 {
		last := r.Phases[n-1]
		if end := last.StartMS + last.DurationMS; r.TotalMS < end-eps {
			t.Errorf("total_ms = %v, want ≥ end of last phase %v", r.TotalMS, end)
		}
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a log or
// progress sink written from other goroutines) and a reader.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ManyA is a DNS handler that answers every A query with N records in
// 127.0.0.0/8 (127.0.1.1, 127.0.1.2, …), over TCP only: UDP gets a
// truncated reply, so the client retries over TCP as it must for a large
// answer. TCP counts the A queries answered over TCP.
type ManyA struct {
	N   int
	TCP atomic.Int32
}

// ServeDNS implements dns.Handler.
func (h *ManyA) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Compress = true
	if q.Question[0].Qtype == dns.TypeA {
		if w.LocalAddr().Network() == "udp" {
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		h.TCP.Add(1)
		for i := range h.N {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)),
			})
		}
	}
	_ = w.WriteMsg(m)
}

// ServeTCP accepts connections on addr ("127.0.0.1:0" for a free port) and
// runs handle on each in its own goroutine; the test's cleanup closes the
// listener and every connection and waits for the handlers, so no
// goroutine outlives the test. It returns the listening address.
func ServeTCP(t testing.TB, addr string, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
