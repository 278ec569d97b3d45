package probe_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorderPhases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	clock := func() time.Time { return now }
	r := probe.NewRecorderAt(t0, clock)
	now = t0.Add(1 * time.Millisecond)
	r.Begin("dns")
	now = t0.Add(3 * time.Millisecond)
	r.Begin("connect") // ends dns
	now = t0.Add(4500 * time.Microsecond)
	r.End("connect")
	r.Begin("tls")
	if got := r.InFlight(); got != "tls" {
		t.Fatalf("InFlight = %q, want tls", got)
	}
	now = t0.Add(10 * time.Millisecond)
	ph := r.Phases(now)
	want := []probe.Phase{
		{Name: "dns", StartMS: 1, DurationMS: 2},
		{Name: "connect", StartMS: 3, DurationMS: 1.5},
		{Name: "tls", StartMS: 4.5, DurationMS: 5.5, Incomplete: true},
	}
	if len(ph) != len(want) {
		t.Fatalf("got %d phases, want %d: %+v", len(ph), len(want), ph)
	}
	for i := range want {
		if ph[i] != want[i] {
			t.Errorf("phase %d = %+v, want %+v", i, ph[i], want[i])
		}
	}
	// AddSpan keeps start order.
	r.AddSpan("redirect", t0, t0.Add(time.Millisecond))
	if got := r.Phases(now)[0].Name; got != "redirect" {
		t.Errorf("first phase after AddSpan = %q, want redirect", got)
	}
}

func TestParseTarget(t *testing.T) {
	good := []struct {
		in         string
		kind, host string
		port       int
	}{
		{"https://127.0.0.1:8443/health", "https", "127.0.0.1", 8443},
		{"http://example.test/", "http", "example.test", 80},
		{"https://[::1]/", "https", "::1", 443},
		{"tcp://db.internal:5432", "tcp", "db.internal", 5432},
		{"tls://mail.example.com:465", "tls", "mail.example.com", 465},
		{"dns://127.0.0.1:5353/www.example.test?type=AAAA", "dns", "127.0.0.1", 5353},
		{"dns:///www.example.test", "dns", "", 0},
		{"icmp://10.0.0.1", "icmp", "10.0.0.1", 0},
	}
	for _, c := range good {
		t.Run(c.in, func(t *testing.T) {
			tg, err := probe.ParseTarget(c.in)
			if err != nil {
				t.Fatalf("ParseTarget: %v", err)
			}
			if tg.Kind != c.kind || tg.Host != c.host || tg.Port != c.port {
				t.Errorf("got kind=%s host=%s port=%d, want %s %s %d", tg.Kind, tg.Host, tg.Port, c.kind, c.host, c.port)
			}
		})
	}
	bad := map[string]string{
		"":                         "empty",
		"example.com":              "no scheme",
		"ftp://x/":                 "unknown scheme",
		"tcp://db.internal":        "need a port",
		"https://host:99999/":      "out of range",
		"dns://1.1.1.1/":           "no name",
		"dns:///x.test?type=BOGUS": "unknown query type",
		"dns:///x.test?kind=A":     "unknown parameter",
		"https://user:pw@host/":    "credentials",
		"http:///path":             "no host",
		"tcp://h:1/path":           "no path",
	}
	for in, want := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			_, err := probe.ParseTarget(in)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("ParseTarget(%q) error = %v, want it to mention %q", in, err, want)
			}
			if strings.Contains(in, "pw@") && strings.Contains(err.Error(), "pw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// A listener on 127.0.0.1 only: the dual-stack attempt to ::1 (or
// 127.0.0.2) is refused, then the second address connects. Both attempts
// are recorded.
func TestConnectRecordsEveryAttempt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	res := &probe.Result{}
	d := &probe.Dialer{Opts: &probe.Options{}, Rec: probe.NewRecorder(), Res: res}
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}
	c, err := d.Connect(context.Background(), addrs, port)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	c.Close()
	at := res.Conn.Attempts
	if len(at) != 2 {
		t.Fatalf("attempts = %+v, want 2", at)
	}
	if at[0].Error == "" || !strings.Contains(at[0].Error, "refused") {
		t.Errorf("first attempt error = %q, want connection refused", at[0].Error)
	}
	if at[1].Error != "" || !strings.HasPrefix(at[1].Addr, "127.0.0.1:") {
		t.Errorf("second attempt = %+v, want a success to 127.0.0.1", at[1])
	}
	if res.Conn.RemoteAddr != ln.Addr().String() || res.Conn.IPVersion != 4 {
		t.Errorf("conn = %+v", res.Conn)
	}
}

func TestInterleaveFamilies(t *testing.T) {
	// Via Connect's recorded order: v6, v4, v6 — all refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	res := &probe.Result{}
	d := &probe.Dialer{Opts: &probe.Options{}, Rec: probe.NewRecorder(), Res: res}
	addrs := []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("::2"), netip.MustParseAddr("127.0.0.1")}
	_, err := d.Connect(context.Background(), addrs, port)
	var pe *probe.PhaseError
	if err == nil || !asPhaseError(err, &pe) || pe.Class != probe.ClassConnect {
		t.Fatalf("err = %v, want a connect-class PhaseError", err)
	}
	var order []string
	for _, a := range res.Conn.Attempts {
		ap := netip.MustParseAddrPort(a.Addr)
		order = append(order, ap.Addr().String())
	}
	if strings.Join(order, " ") != "::1 127.0.0.1 ::2" {
		t.Errorf("attempt order = %v, want ::1 127.0.0.1 ::2", order)
	}
}

func asPhaseError(err error, pe **probe.PhaseError) bool {
	p, ok := err.(*probe.PhaseError)
	*pe = p
	return ok
}

// A server that accepts and never speaks TLS: the timeout names the tls
// phase as in flight and keeps the time spent in every phase.
func TestTimeoutNamesPhaseInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() { ln.Close(); <-done }()
	probe.Register(probe.ProberFunc(func(ctx context.Context, tg probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
		d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
		c, err := d.DialTCP(ctx, tg.Host, tg.Port)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = d.Handshake(ctx, c, d.TLSConfig(tg.Host, nil))
		return err
	}), "tls")
	tg, _ := probe.ParseTarget("tls://" + ln.Addr().String())
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 300 * time.Millisecond})
	if r.Success || r.Error == nil {
		t.Fatalf("want failure, got %+v", r)
	}
	if r.Error.Class != probe.ClassTimeout || r.Error.Phase != "tls" {
		t.Fatalf("error = %+v, want class timeout in phase tls", r.Error)
	}
	last := r.Phases[len(r.Phases)-1]
	if last.Name != "tls" || last.DurationMS < 250 || !last.Incomplete {
		t.Errorf("last phase = %+v, want tls lasting ~300 ms", last)
	}
	if r.TimeoutMS != 300 {
		t.Errorf("TimeoutMS = %v, want 300", r.TimeoutMS)
	}
}
