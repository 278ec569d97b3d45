package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
	"golang.org/x/net/http2"
)

// floodFrames is how many PINGs the flood server sends.
const floodFrames = 1_000_000

// startPingFlood serves h2c on 127.0.0.1: it reads (and discards) whatever
// the client sends, answers with SETTINGS and then floodFrames PINGs, and
// never answers the request. It returns the URL, how many PINGs were
// written, and a stop function that waits for its goroutines.
func startPingFlood(t *testing.T) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
		sent  int
	)
	// 10,000 PINGs (170,000 bytes), written floodFrames/10,000 times.
	var batch bytes.Buffer
	fr := http2.NewFramer(&batch, nil)
	for i := range 10_000 {
		_ = fr.WritePing(false, [8]byte{byte(i), byte(i >> 8)})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(2)
			go func() { // drain the client's preface, SETTINGS, request and PING ACKs
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
			go func() {
				defer wg.Done()
				var hello bytes.Buffer
				_ = http2.NewFramer(&hello, nil).WriteSettings()
				if _, err := c.Write(hello.Bytes()); err != nil {
					return
				}
				for n := 0; n < floodFrames; n += 10_000 {
					if _, err := c.Write(batch.Bytes()); err != nil {
						return
					}
					mu.Lock()
					sent += 10_000
					mu.Unlock()
				}
			}()
		}
	}()
	stop := func() int {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return sent
	}
	return "http://" + ln.Addr().String() + "/", stop
}

// A server flooding a million PINGs: a real pathlens process ends within
// its budget, with peak RSS under 100 MB, a finding, and the flood visible
// (counted, not kept) in h2.
func TestH2PingFloodBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	url, stop := startPingFlood(t)
	defer stop()

	const budget = 5 * time.Second
	args := []string{"check", "--json", "--h2c", "--timeout", budget.String(), url}
	c := runChild(t, args)
	stdout, stderr, code, wall, rss := &c.stdout, &c.stderr, c.code, c.wall, c.rss
	sent := stop()
	var r probe.Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not one JSON Result: %v\n%.2000s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	h := r.H2
	if h == nil {
		t.Fatalf("no h2 block: %s", stdout.String())
	}
	pings := h.Counts["recv"]["PING"]
	t.Logf("exit %d in %v, peak RSS %.1f MiB, server wrote %d PINGs, tap counted %d (%d frames total, %d kept), error %+v, findings %d, JSON %d KiB",
		code, wall.Round(time.Millisecond), float64(rss)/(1<<20), sent, pings, h.FramesTotal, len(h.Frames), r.Error, len(r.Findings), stdout.Len()>>10)
	if rss > maxHostileRSS {
		t.Errorf("peak RSS %d MiB, want < %d MiB", rss>>20, maxHostileRSS>>20)
	}
	if wall > budget+3*time.Second {
		t.Errorf("took %v with a %v budget", wall, budget)
	}
	if code != ExitFailed || r.Error == nil || r.Error.Class != probe.ClassTimeout {
		t.Errorf("exit %d, error %+v; want 2 and a timeout (the request is never answered)", code, r.Error)
	}
	if len(r.Findings) == 0 || r.Findings[0].ID != "PROBE_TIMEOUT" {
		t.Errorf("findings %+v, want PROBE_TIMEOUT", r.Findings)
	}
	if pings < 100_000 || len(h.Frames) > 2000+100 || h.FramesDropped != h.FramesTotal-len(h.Frames) {
		t.Errorf("tap: %d PINGs counted, %d frames kept of %d (dropped %d); want the flood counted and the timeline bounded",
			pings, len(h.Frames), h.FramesTotal, h.FramesDropped)
	}
	if stdout.Len() > 2<<20 {
		t.Errorf("JSON is %d KiB: the timeline is not bounded", stdout.Len()>>10)
	}
}
