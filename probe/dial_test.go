package probe_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// manyA answers an A query with n records 127.0.x.y, compressed so that
// 4,094 of them fit one 64 KiB TCP message; over UDP it answers truncated
// (as a real server would), so the client retries over TCP.
// TestHugeAnswerIsCapped: a name with 4,094 A records (the most a TCP DNS
// message holds) costs MaxConnectAddrs connect attempts and
// MaxListedAddrs listed addresses, not thousands of each.
func TestHugeAnswerIsCapped(t *testing.T) {
	const n = 4094
	h := &probetest.ManyA{N: n}
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
	if h.TCP.Load() == 0 {
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

// listener accepts on 127.0.0.1 and counts the connections it got.
type listener struct {
	ln      net.Listener
	port    int
	accepts atomic.Int32
	wg      sync.WaitGroup
}

func listen(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func pin(port int, addrs ...string) []probe.ResolveEntry {
	e := probe.ResolveEntry{Host: "pinned.test", Port: port}
	for _, a := range addrs {
		e.Addrs = append(e.Addrs, netip.MustParseAddr(a))
	}
	return []probe.ResolveEntry{e}
}

// wantDenied checks err is the address_denied failure.
func wantDenied(t *testing.T, err error) *probe.PhaseError {
	t.Helper()
	var pe *probe.PhaseError
	if !errors.As(err, &pe) || pe.Phase != probe.PhaseConnect || pe.Class != probe.ClassConnect || pe.Cause != "address_denied" {
		t.Fatalf("err = %v (%+v), want phase connect, class connect, cause address_denied", err, pe)
	}
	return pe
}

func TestDenyNetworks(t *testing.T) {
	l := listen(t)
	tests := []struct {
		name     string
		host     string
		resolve  []probe.ResolveEntry
		deny     []netip.Prefix
		denied   []probe.DeniedAddr
		connects bool
	}{
		{"literal", "127.0.0.1", nil, prefixes("127.0.0.0/8"),
			[]probe.DeniedAddr{{Addr: "127.0.0.1", Network: "127.0.0.0/8"}}, false},
		{"mapped literal", "::ffff:127.0.0.1", nil, prefixes("127.0.0.0/8"),
			[]probe.DeniedAddr{{Addr: "127.0.0.1", Network: "127.0.0.0/8"}}, false},
		{"pinned mapped address", "pinned.test", pin(l.port, "::ffff:127.0.0.1"), prefixes("127.0.0.1/32"),
			[]probe.DeniedAddr{{Addr: "::ffff:127.0.0.1", Network: "127.0.0.1/32"}}, false},
		{"mapped network", "127.0.0.1", nil, prefixes("10.0.0.0/8", "::ffff:127.0.0.0/104"),
			[]probe.DeniedAddr{{Addr: "127.0.0.1", Network: "::ffff:127.0.0.0/104"}}, false},
		{"one address of two", "pinned.test", pin(l.port, "127.0.0.2", "127.0.0.1"), prefixes("127.0.0.2/32"),
			[]probe.DeniedAddr{{Addr: "127.0.0.2", Network: "127.0.0.2/32"}}, true},
		{"other networks", "127.0.0.1", nil, prefixes("10.0.0.0/8", "::1/128"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.accepts.Load()
			res := &probe.Result{}
			d := &probe.Dialer{Opts: &probe.Options{DenyNetworks: tt.deny, Resolve: tt.resolve}, Rec: probe.NewRecorder(), Res: res}
			c, err := d.DialTCP(context.Background(), tt.host, l.port)
			if tt.connects {
				if err != nil {
					t.Fatalf("DialTCP: %v", err)
				}
				c.Close()
				if n := len(res.Conn.Attempts); n != 1 || !strings.HasPrefix(res.Conn.Attempts[0].Addr, "127.0.0.1:") {
					t.Errorf("attempts = %+v, want one, to 127.0.0.1", res.Conn.Attempts)
				}
			} else {
				pe := wantDenied(t, err)
				if !strings.Contains(pe.Error(), tt.denied[0].Addr) {
					t.Errorf("message %q does not name the denied address", pe.Error())
				}
				time.Sleep(20 * time.Millisecond) // an accept in flight would be counted by now
				if got := l.accepts.Load() - before; got != 0 {
					t.Errorf("the listener accepted %d connections, want none", got)
				}
				if res.Conn != nil && len(res.Conn.Attempts) != 0 {
					t.Errorf("attempts = %+v, want none", res.Conn.Attempts)
				}
			}
			var denied []probe.DeniedAddr
			if res.Conn != nil {
				denied = res.Conn.Denied
			}
			if !slices.Equal(denied, tt.denied) {
				t.Errorf("conn.denied = %+v, want %+v", denied, tt.denied)
			}
		})
	}

	t.Run("zoned address", func(t *testing.T) {
		res := &probe.Result{}
		d := &probe.Dialer{Opts: &probe.Options{DenyNetworks: prefixes("fe80::/10")}, Rec: probe.NewRecorder(), Res: res}
		_, err := d.Connect(context.Background(), []netip.Addr{netip.MustParseAddr("fe80::1%lo")}, l.port)
		wantDenied(t, err)
	})
	t.Run("Connect checks too", func(t *testing.T) {
		res := &probe.Result{}
		d := &probe.Dialer{Opts: &probe.Options{DenyNetworks: prefixes("127.0.0.0/8")}, Rec: probe.NewRecorder(), Res: res}
		_, err := d.Connect(context.Background(), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, l.port)
		wantDenied(t, err)
		if len(res.Conn.Attempts) != 0 {
			t.Errorf("attempts = %+v, want none", res.Conn.Attempts)
		}
	})
	t.Run("Resolve checks too", func(t *testing.T) {
		// icmp probes resolve with Dialer.Resolve and never call Connect.
		res := &probe.Result{}
		d := &probe.Dialer{Opts: &probe.Options{DenyNetworks: prefixes("127.0.0.0/8")}, Rec: probe.NewRecorder(), Res: res}
		_, err := d.Resolve(context.Background(), "127.0.0.1", 0)
		wantDenied(t, err)
	})
	t.Run("long list capped", func(t *testing.T) {
		var addrs []string
		for i := range 40 {
			addrs = append(addrs, fmt.Sprintf("127.0.3.%d", i+1))
		}
		res := &probe.Result{}
		d := &probe.Dialer{Opts: &probe.Options{DenyNetworks: prefixes("127.0.0.0/8"), Resolve: pin(l.port, addrs...)}, Rec: probe.NewRecorder(), Res: res}
		_, err := d.DialTCP(context.Background(), "pinned.test", l.port)
		pe := wantDenied(t, err)
		if len(res.Conn.Denied) != probe.MaxListedAddrs || res.Conn.DeniedOmitted != 40-probe.MaxListedAddrs {
			t.Errorf("denied %d listed, %d omitted; want %d and %d", len(res.Conn.Denied), res.Conn.DeniedOmitted, probe.MaxListedAddrs, 40-probe.MaxListedAddrs)
		}
		if !strings.HasSuffix(pe.Error(), fmt.Sprintf(" and %d more", 40-probe.MaxListedAddrs)) {
			t.Errorf("message %q does not count the addresses left out", pe.Error())
		}
	})
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"https://example.com/a", "https://example.com/b?q", true},
		{"https://example.com/", "https://EXAMPLE.com:443/", true},
		{"http://example.com/", "http://example.com:80/", true},
		{"http://[::1]:8080/", "http://[0:0::1]:8080/", true},
		{"http://127.0.0.1:8080/", "http://[::ffff:127.0.0.1]:8080/", true},
		{"https://example.com/", "http://example.com/", false},
		{"https://example.com:8443/", "http://example.com:8443/", false}, // the scheme alone changes
		{"https://example.com/", "https://example.com:8443/", false},
		{"https://example.com/", "https://api.example.com/", false},
		{"http://127.0.0.1:1/", "http://127.0.0.1:2/", false},
	}
	for _, tt := range tests {
		a, _ := url.Parse(tt.a)
		b, _ := url.Parse(tt.b)
		if got := probe.SameOrigin(a, b); got != tt.same {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
		if got := probe.SameOrigin(b, a); got != tt.same {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tt.b, tt.a, got, tt.same)
		}
	}
}
