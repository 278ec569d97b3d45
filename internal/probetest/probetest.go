// Package probetest holds the helpers the prober packages' tests share:
// run one probe with a default budget, and describe a Result compactly in
// failure messages.
package probetest

import (
	"context"
	"net"
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
