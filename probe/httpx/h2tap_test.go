package httpx_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/httpx"
)

// Every HTTP/2 probe carries the frame tap's view in r.H2 (TLS h2 and
// h2c); HTTP/1.1 probes carry none; a reused connection's timeline starts
// afresh with each run, relative to that run's start.
func TestH2Block(t *testing.T) {
	body := strings.Repeat("x", 100000)
	h := bodyHandler(body)
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
				probetest.MustSucceed(t, r)
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

// --h2-window and --h2-conn-window reach the wire on HTTP/2 probes (TLS h2
// and h2c): the stream window in the client's SETTINGS, the connection
// window as 65,535 plus the first WINDOW_UPDATE; a body several windows
// long still arrives whole, the client returning window as it reads.
func TestH2Windows(t *testing.T) {
	body := strings.Repeat("w", 300000)
	h := bodyHandler(body)
	for _, tc := range []struct {
		name string
		mode serverMode
		h2c  bool
	}{{"h2 over TLS", modeH2TLS, false}, {"h2c", modeH2C, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.mode, h, nil)
			o := opts(srv)
			o.SkipResumptionCheck = true
			o.H2C = tc.h2c
			o.H2Window, o.H2ConnWindow = 16384, 200000
			r := probetest.Run(t, srv.URL+"/", o)
			probetest.MustSucceed(t, r)
			if r.HTTP.BodyBytes != int64(len(body)) {
				t.Fatalf("body %d bytes, want %d", r.HTTP.BodyBytes, len(body))
			}
			if got := r.H2.Settings["client"]["INITIAL_WINDOW_SIZE"]; got != 16384 {
				t.Errorf("client INITIAL_WINDOW_SIZE = %d, want 16384 (settings %v)", got, r.H2.Settings)
			}
			var connUpdate uint32
			streamUpdates := 0
			for _, f := range r.H2.Frames {
				if f.Dir != "send" || f.Type != "WINDOW_UPDATE" {
					continue
				}
				if f.Stream == 0 && connUpdate == 0 {
					connUpdate = f.Window
				}
				if f.Stream != 0 {
					streamUpdates++
				}
			}
			if connUpdate != 200000-65535 {
				t.Errorf("first connection WINDOW_UPDATE %d, want %d", connUpdate, 200000-65535)
			}
			if streamUpdates < len(body)/16384/2 {
				t.Errorf("%d stream WINDOW_UPDATEs for %d bytes through a 16 KiB window", streamUpdates, len(body))
			}
		})
	}
}

// Without the flags the client keeps net/http's HTTP/2 defaults (4 MiB
// stream window), and a connection window the client cannot announce is a
// config error, not a silent 1 GiB.
func TestH2WindowDefaultsAndLimits(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := newServer(t, modeH2TLS, h, nil)
	o := opts(srv)
	o.SkipResumptionCheck = true
	r := probetest.Run(t, srv.URL+"/", o)
	probetest.MustSucceed(t, r)
	if got := r.H2.Settings["client"]["INITIAL_WINDOW_SIZE"]; got != 4<<20 {
		t.Errorf("default client INITIAL_WINDOW_SIZE = %d, want %d", got, 4<<20)
	}
	o.H2ConnWindow = httpx.MinConnWindow - 1
	r = probetest.Run(t, srv.URL+"/", o)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassConfig || r.Error.Cause != "window" {
		t.Fatalf("conn window %d: error %+v, want a config error", o.H2ConnWindow, r.Error)
	}
}

// The header cap (MaxHeaderBytes, 1 MiB by default) is the client's
// SETTINGS_MAX_HEADER_LIST_SIZE as given, and a response header list is
// refused past it, not before: a list of exactly the cap passes, one byte
// more fails with headers_too_large. A field counts its name, its value
// and 32 bytes; the answer is :status 200, content-length 0 and x-big.
func TestH2HeaderCap(t *testing.T) {
	const limit = 4096
	const others = (7 + 3 + 32) + (14 + 1 + 32) + (5 + 32) // :status, content-length, x-big's name
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header()["Date"] = nil
		w.Header().Set("Content-Length", "0")
		w.Header().Set("X-Big", strings.Repeat("a", n))
	})
	srv := newServer(t, modeH2TLS, h, nil)
	o := opts(srv)
	o.SkipResumptionCheck = true
	r := probetest.Run(t, srv.URL+"/?n=1", o)
	probetest.MustSucceed(t, r)
	if got := r.H2.Settings["client"]["MAX_HEADER_LIST_SIZE"]; got != probe.DefaultMaxHeader {
		t.Errorf("default client MAX_HEADER_LIST_SIZE = %d, want %d", got, probe.DefaultMaxHeader)
	}
	o.MaxHeaderBytes = limit
	r = probetest.Run(t, srv.URL+"/?n="+strconv.Itoa(limit-others), o)
	probetest.MustSucceed(t, r)
	if got := r.H2.Settings["client"]["MAX_HEADER_LIST_SIZE"]; got != limit {
		t.Errorf("client MAX_HEADER_LIST_SIZE = %d, want %d", got, limit)
	}
	r = probetest.Run(t, srv.URL+"/?n="+strconv.Itoa(limit-others+1), o)
	if r.Success || r.Error == nil || r.Error.Cause != probe.CauseHeadersTooLarge {
		t.Fatalf("header list one byte over the cap: error %+v, want %s", r.Error, probe.CauseHeadersTooLarge)
	}
}
