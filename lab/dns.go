package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// Special names in the lab zone.
const (
	dnsSlowName    = "slow.lab.test."    // answered after dnsSlowDelay
	dnsMissingName = "missing.lab.test." // always NXDOMAIN
	dnsSlowDelay   = 300 * time.Millisecond
	dnsTTL         = 60
)

// dnsServer is the lab's authoritative server for Zone, over UDP and TCP
// on the same port. Every scenario name resolves to 127.0.0.1 (A only);
// slow.lab.test answers late; other names in the zone are NXDOMAIN and
// names outside it are REFUSED.
type dnsServer struct {
	l     *Lab
	addr  string
	hosts map[string]bool // canonical FQDNs that have an A record
}

// startDNS binds UDP and TCP on one free port and serves the zone on both.
func (l *Lab) startDNS(ctx context.Context, fixed string) error {
	d := &dnsServer{l: l, hosts: make(map[string]bool)}
	for _, def := range scenarioTable {
		d.hosts[def.name+"."+Zone] = true
	}

	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	if fixed != "" {
		if pc, err = net.ListenPacket("udp", fixed); err != nil {
			return fmt.Errorf("lab: dns udp %s: %w", fixed, err)
		}
		if ln, err = net.Listen("tcp", fixed); err != nil {
			_ = pc.Close()
			return fmt.Errorf("lab: dns tcp %s: %w", fixed, err)
		}
		d.addr = pc.LocalAddr().String()
	}
	for i := 0; d.addr == "" && i < 20; i++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("lab: dns udp: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		return fmt.Errorf("lab: dns tcp: %w", err)
	}
	l.dns = d

	udp := &dns.Server{PacketConn: pc, Handler: d, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	tcp := &dns.Server{Listener: ln, Handler: d, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		IdleTimeout: func() time.Duration { return 5 * time.Second }}

	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		exited := make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		l.onClose(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.ShutdownContext(sctx)
			// Shutdown fails on a server that never got going; closing its
			// socket makes a late ActivateAndServe return at once.
			if srv.PacketConn != nil {
				_ = srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				_ = srv.Listener.Close()
			}
		})
		if !l.spawn(func() { exited <- srv.ActivateAndServe() }) {
			return errClosing
		}
		select {
		case <-started:
		case err := <-exited:
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("lab: dns server: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ServeDNS answers one query. miekg/dns runs each UDP query in its own
// goroutine, so concurrent A and AAAA queries for slow.lab.test are both
// answered about dnsSlowDelay later.
func (d *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := d.answer(r)
	if m == nil {
		return
	}
	_ = w.WriteMsg(m)
}

// answer builds the reply to r, or returns nil when the lab closed while
// the answer was being delayed.
func (d *dnsServer) answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	if r.IsEdns0() != nil {
		defer m.SetEdns0(1232, false)
	}
	if r.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(Zone, name) || (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true

	switch {
	case name == dnsSlowName:
		if !d.l.sleep(dnsSlowDelay) {
			return nil
		}
		hostAnswer(m, q)
	case name == dnsMissingName:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{zoneSOA()}
	case d.hosts[name]:
		hostAnswer(m, q)
	case name == Zone:
		if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
			m.Answer = []dns.RR{zoneSOA()}
		} else {
			m.Ns = []dns.RR{zoneSOA()}
		}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{zoneSOA()}
	}
	return m
}

// hostAnswer fills m for a name that exists: an A record for A and ANY
// queries, otherwise NOERROR with no answers (NODATA).
func hostAnswer(m *dns.Msg, q dns.Question) {
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
			A:   net.IPv4(127, 0, 0, 1).To4(),
		}}
		return
	}
	m.Ns = []dns.RR{zoneSOA()}
}

// zoneSOA is the SOA sent in negative answers (RFC 2308).
func zoneSOA() *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: dnsTTL},
		Ns:      Zone,
		Mbox:    "hostmaster." + Zone,
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  dnsTTL,
	}
}
