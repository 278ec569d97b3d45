package httpx_test

import (
	"context"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// BenchmarkH2Probe: HTTP/2 probes through the prober against an
// in-process server, over TLS (ALPN h2) and h2c: fresh, a new connection
// per probe (TLS handshake included, resumption check off), and reused,
// one connection kept in a Session.
func BenchmarkH2Probe(b *testing.B) {
	for _, mode := range []serverMode{modeH2TLS, modeH2C} {
		srv := newServer(b, mode, bodyHandler("ok\n"), nil)
		tg, err := probe.ParseTarget(srv.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		for _, reuse := range []bool{false, true} {
			name := string(mode) + "/fresh"
			if reuse {
				name = string(mode) + "/reused"
			}
			b.Run(name, func(b *testing.B) {
				o := opts(srv)
				o.SkipResumptionCheck, o.H2C = true, mode == modeH2C
				if reuse {
					o.Session = &probe.Session{}
					defer o.Session.Close()
				}
				b.ReportAllocs()
				for b.Loop() {
					if r := probe.Run(context.Background(), tg, o); !r.Success || r.HTTP.Proto != "HTTP/2.0" {
						b.Fatalf("probe: %+v", r.Error)
					}
				}
			})
		}
	}
}
