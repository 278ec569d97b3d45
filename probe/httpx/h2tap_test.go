package httpx_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// Every HTTP/2 probe carries the frame tap's view in r.H2 (TLS h2 and
// h2c); HTTP/1.1 probes carry none; a reused connection's timeline starts
// afresh with each run, relative to that run's start.
func TestH2Block(t *testing.T) {
	body := strings.Repeat("x", 100000)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
	for _, tc := range []struct {
		name string
		mode serverMode
		set  func(*probe.Options)
		h2   bool
	}{
		{"h2 over TLS", modeH2TLS, nil, true},
		{"h2c", modeH2C, func(o *probe.Options) { o.H2C = true }, true},
		{"h1 over TLS", modeH1TLS, nil, false},
		{"h1 cleartext", modeHTTP, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.mode, h, nil)
			o := opts(srv)
			o.Session = &probe.Session{}
			defer o.Session.Close()
			o.SkipResumptionCheck = true
			if tc.set != nil {
				tc.set(o)
			}
			for i := 1; i <= 2; i++ {
				r := probetest.Run(t, srv.URL+"/", o)
				mustSucceed(t, r)
				if !tc.h2 {
					if r.H2 != nil {
						t.Fatalf("run %d: h2 block on %s", i, r.HTTP.Proto)
					}
					continue
				}
				hh := r.H2
				if hh == nil || hh.ParseError != "" || len(hh.Streams) != 1 {
					t.Fatalf("run %d: h2 = %+v", i, hh)
				}
				s := hh.Streams[0]
				if want := uint32(2*i - 1); s.ID != want || s.Status != 200 || s.RecvBytes != int64(len(body)) || !s.RecvEnd {
					t.Errorf("run %d: stream %+v, want id %d answered 200 with %d bytes", i, s, want, len(body))
				}
				for _, f := range hh.Frames {
					if f.AtMS < 0 || f.AtMS > r.TotalMS+1 {
						t.Errorf("run %d: frame at %.3f ms outside the run (total %.3f ms)", i, f.AtMS, r.TotalMS)
					}
				}
				if i == 1 && (len(hh.Settings["client"]) == 0 || len(hh.Settings["server"]) == 0 || hh.Counts["send"]["SETTINGS"] == 0) {
					t.Errorf("run 1: settings %v, counts %v", hh.Settings, hh.Counts)
				}
				if i == 2 && (hh.Counts["send"]["SETTINGS"] != 0 || len(hh.Settings["server"]) == 0) {
					t.Errorf("run 2 (reused): counts %v, settings %v; want no new SETTINGS but the server's kept", hh.Counts, hh.Settings)
				}
			}
		})
	}
}
