package probe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// manyA answers an A query with n records 127.0.x.y, compressed so that
// 4,094 of them fit one 64 KiB TCP message; over UDP it answers truncated
// (as a real server would), so the client retries over TCP.
type manyA struct {
	n   int
	tcp atomic.Int32 // A queries answered over TCP
}

func (h *manyA) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Compress = true
	if q.Question[0].Qtype == dns.TypeA {
		if w.LocalAddr().Network() == "udp" {
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		h.tcp.Add(1)
		for i := range h.n {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)),
			})
		}
	}
	_ = w.WriteMsg(m)
}

// TestHugeAnswerIsCapped: a name with 4,094 A records (the most a TCP DNS
// message holds) costs MaxConnectAddrs connect attempts and
// MaxListedAddrs listed addresses, not thousands of each.
func TestHugeAnswerIsCapped(t *testing.T) {
	const n = 4094
	h := &manyA{n: n}
	server := probetest.StartDNS(t, h)
	_, portStr, _ := net.SplitHostPort(probetest.ClosedPort(t))
	port, _ := strconv.Atoi(portStr)

	res := &probe.Result{}
	d := &probe.Dialer{Opts: &probe.Options{DNSServer: server}, Rec: probe.NewRecorder(), Res: res}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialTCP(ctx, "many.test", port)
	if err == nil {
		c.Close()
		t.Fatal("DialTCP connected to a closed port")
	}
	if h.tcp.Load() == 0 {
		t.Fatal("the answer never went over TCP: the test does not exercise a large answer")
	}
	if res.DNS == nil || len(res.DNS.Addrs)+res.DNS.AddrsOmitted != n {
		t.Fatalf("dns = %+v, want %d addresses in all", res.DNS, n)
	}
	if got := len(res.DNS.Addrs); got != probe.MaxListedAddrs {
		t.Errorf("dns.addrs lists %d addresses, want %d", got, probe.MaxListedAddrs)
	}
	if got, want := res.DNS.AddrsOmitted, n-probe.MaxListedAddrs; got != want {
		t.Errorf("dns.addrs_omitted = %d, want %d", got, want)
	}
	if got := len(res.Conn.Attempts); got != probe.MaxConnectAddrs {
		t.Errorf("%d connect attempts, want %d", got, probe.MaxConnectAddrs)
	}
	for i, a := range res.Conn.Attempts {
		if want := fmt.Sprintf("127.0.1.%d:%d", i+1, port); a.Addr != want {
			t.Errorf("attempt %d to %s, want %s (answer order)", i, a.Addr, want)
			break
		}
	}
	b, _ := json.Marshal(res)
	if len(b) > 4<<10 {
		t.Errorf("the result is %d bytes of JSON, want a few KB at most", len(b))
	}
}

// TestConnectOrderCapped: with many addresses of both families, a connect
// still alternates families and tries MaxConnectAddrs in all.
func TestConnectOrderCapped(t *testing.T) {
	_, portStr, _ := net.SplitHostPort(probetest.ClosedPort(t))
	port, _ := strconv.Atoi(portStr)
	var addrs []netip.Addr
	for i := range 20 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{127, 0, 2, byte(i + 1)}))
	}
	addrs = append(addrs, netip.MustParseAddr("::1"), netip.MustParseAddr("::1"), netip.MustParseAddr("::1"))
	res := &probe.Result{}
	d := &probe.Dialer{Opts: &probe.Options{}, Rec: probe.NewRecorder(), Res: res}
	if c, err := d.Connect(context.Background(), addrs, port); err == nil {
		c.Close()
		t.Fatal("Connect connected to a closed port")
	}
	var got []string
	for _, a := range res.Conn.Attempts {
		got = append(got, netip.MustParseAddrPort(a.Addr).Addr().String())
	}
	want := []string{"127.0.2.1", "::1", "127.0.2.2", "::1", "127.0.2.3", "::1", "127.0.2.4", "127.0.2.5"}
	if !slices.Equal(got, want) {
		t.Errorf("attempts = %v, want %v", got, want)
	}
}
