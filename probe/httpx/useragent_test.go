package httpx_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// Every HTTP probe (h1 and h2) sends probe.UserAgent(), and setting
// probe.Version (what -ldflags -X does) changes it.
func TestUserAgentIsProbeVersion(t *testing.T) {
	var mu sync.Mutex
	var ua string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ua = r.Header.Get("User-Agent")
		mu.Unlock()
	})
	servers := map[string]serverMode{"h1": modeHTTP, "h2": modeH2TLS}
	old := probe.Version
	t.Cleanup(func() { probe.Version = old })
	for _, v := range []string{old, "1.2.3-test", "v9.0.0"} {
		probe.Version = v
		want := "pathlens/" + v
		if got := probe.UserAgent(); got != want {
			t.Fatalf("probe.UserAgent() = %q, want %q", got, want)
		}
		for name, mode := range servers {
			srv := newServer(t, mode, h, nil)
			probetest.MustSucceed(t, probetest.Run(t, srv.URL+"/", opts(srv)))
			mu.Lock()
			got := ua
			mu.Unlock()
			if got != want {
				t.Errorf("%s with Version %q: server saw User-Agent %q, want %q", name, v, got, want)
			}
		}
	}
}
