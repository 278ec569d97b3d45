package httpx_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// findingIDs runs the diagnosis on r.
func findingIDs(r *probe.Result) []string {
	var out []string
	for _, f := range diagnose.Diagnose(r) {
		out = append(out, f.ID)
	}
	return out
}

// counted starts a plain HTTP server that counts the connections it
// accepted and the requests it got.
func counted(t *testing.T, h http.Handler) (srv *httptest.Server, conns, requests *atomic.Int32) {
	t.Helper()
	conns, requests = new(atomic.Int32), new(atomic.Int32)
	srv = newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}), func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	return srv, conns, requests
}

func TestDenyNetworks(t *testing.T) {
	t.Run("target", func(t *testing.T) {
		srv, conns, _ := counted(t, http.HandlerFunc(okHandler))
		o := opts(srv)
		o.DenyNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		r := probetest.Run(t, srv.URL+"/", o)
		wantError(t, r, probe.ClassConnect, "address_denied", probe.PhaseConnect)
		time.Sleep(20 * time.Millisecond) // an accepted connection would be counted by now
		if n := conns.Load(); n != 0 {
			t.Errorf("the server accepted %d connections, want none", n)
		}
		if r.Conn == nil || len(r.Conn.Denied) != 1 || r.Conn.Denied[0] != (probe.DeniedAddr{Addr: "127.0.0.1", Network: "127.0.0.0/8"}) || len(r.Conn.Attempts) != 0 {
			t.Errorf("conn = %+v, want 127.0.0.1 denied by 127.0.0.0/8 and no attempt", r.Conn)
		}
		if got := findingIDs(r); !slices.Equal(got, []string{diagnose.IDProbeAddressDenied}) {
			t.Errorf("findings = %v, want [%s] only", got, diagnose.IDProbeAddressDenied)
		}
	})
	t.Run("redirect into a denied network", func(t *testing.T) {
		l, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		var v6conns atomic.Int32
		v6 := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
		v6.Listener.Close()
		v6.Listener = l
		v6.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				v6conns.Add(1)
			}
		}
		v6.Start()
		t.Cleanup(v6.Close)
		first := newServer(t, modeHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, v6.URL+"/", http.StatusFound)
		}), nil)
		o := opts(first)
		o.DenyNetworks = []netip.Prefix{netip.MustParsePrefix("::1/128")}
		r := probetest.Run(t, first.URL+"/", o)
		wantError(t, r, probe.ClassConnect, "address_denied", probe.PhaseConnect)
		if len(r.HTTP.Redirects) != 1 || r.HTTP.Redirects[0].Status != 302 {
			t.Errorf("redirects = %+v, want the first hop's 302", r.HTTP.Redirects)
		}
		time.Sleep(20 * time.Millisecond)
		if n := v6conns.Load(); n != 0 {
			t.Errorf("the [::1] server accepted %d connections, want none", n)
		}
		fs := diagnose.Diagnose(r)
		if len(fs) != 1 || fs[0].ID != diagnose.IDProbeAddressDenied || fs[0].Evidence["from"] != first.URL+"/" {
			t.Errorf("findings = %+v, want %s naming the redirect from %s", fs, diagnose.IDProbeAddressDenied, first.URL)
		}
	})
}
