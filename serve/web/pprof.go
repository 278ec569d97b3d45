package web

import (
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
)

// pprofHandler serves the Go runtime's profiles under /debug/pprof/ when
// serve runs with --pprof. Profiles show the process's memory and
// goroutines (target URLs, module settings), so they are answered only
// to clients on a loopback address, and only while auth.token_file is
// configured: ServeHTTP has already checked the token, as for every page.
func (s *server) pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !fromLoopback(r):
			http.Error(w, "/debug/pprof answers loopback clients only", http.StatusForbidden)
		case s.cfg().Auth.Token == "":
			http.Error(w, "/debug/pprof needs auth.token_file in the config", http.StatusForbidden)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// fromLoopback reports whether the request's peer is a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
