// Package bench measures pathlens against baselines in the same run. Each
// benchmark alternates the baseline and pathlens in small blocks inside one
// loop, so machine drift (frequency, other load) hits both equally, and
// reports both costs and their ratio. Run with `make bench` or bench/run.sh.
package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/probe"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// block is how many operations of one side run before switching sides.
const block = 64

// interleave runs b.N operations of each side, alternating in blocks
// (in ABBA order), and
// reports per-operation wall and CPU time (client and in-process server
// together) for both, and pathlens/baseline ratios.
func interleave(b *testing.B, base, pathlens func() error) {
	var wall, cpu [2]time.Duration
	sides := [2]func() error{base, pathlens}
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; done, k = done+block, k+1 {
		n := min(block, b.N-done)
		// ABBA order: whichever side runs second in a block gains (warm
		// caches, GC debt paid by the first), so alternate who goes first.
		for j := range sides {
			s := j ^ (k & 1)
			w0, c0 := time.Now(), cpuNow()
			for i := 0; i < n; i++ {
				if err := sides[s](); err != nil {
					b.Fatal(err)
				}
			}
			wall[s] += time.Since(w0)
			cpu[s] += cpuNow() - c0
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(wall[0]), "base-ns/op")
	b.ReportMetric(per(wall[1]), "pathlens-ns/op")
	b.ReportMetric(per(cpu[0]), "base-cpu-ns/op")
	b.ReportMetric(per(cpu[1]), "pathlens-cpu-ns/op")
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "wall-ratio")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
	b.ReportMetric(float64(b.N)/wall[0].Seconds(), "base-ops/s")
	b.ReportMetric(float64(b.N)/wall[1].Seconds(), "pathlens-ops/s")
	b.ReportMetric(per(cpu[1])-per(cpu[0]), "extra-cpu-ns/op")
}

// Parallelism of the saturated benchmarks: enough workers to keep both
// cores of the test machine busy with client and server work.
const saturate = 8

// interleaveSaturated is interleave with the CPUs kept busy: each side's
// block runs on saturate workers at once, each worker with its own
// base/pathlens pair from mk (its own connection). A serial ping-pong on
// loopback leaves the cores idle between messages, and the Go scheduler
// spins and parks threads in those gaps: there, any extra microsecond of
// client work changes the spin/park pattern and costs several times its
// own CPU (measured: a 2.5 µs busy loop per request added 7–15 µs of CPU).
// Saturated, CPU per operation is what the work itself costs — the
// situation of a busy service, where overhead matters.
func interleaveSaturated(b *testing.B, mk func() (base, pathlens func() error)) {
	type pair struct{ f [2]func() error }
	workers := make([]pair, saturate)
	for i := range workers {
		bf, pf := mk()
		workers[i] = pair{[2]func() error{bf, pf}}
	}
	var wall, cpu [2]time.Duration
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; done, k = done+block*saturate, k+1 {
		n := max(1, min(block, (b.N-done)/saturate))
		for j := range 2 {
			s := j ^ (k & 1)
			w0, c0 := time.Now(), cpuNow()
			var wg sync.WaitGroup
			errs := make(chan error, saturate)
			for w := range workers {
				wg.Add(1)
				go func(f func() error) {
					defer wg.Done()
					for i := 0; i < n; i++ {
						if err := f(); err != nil {
							errs <- err
							return
						}
					}
				}(workers[w].f[s])
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			wall[s] += time.Since(w0)
			cpu[s] += cpuNow() - c0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "wall-ratio")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
}

func okHandler() http.Handler {
	body := []byte("ok\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
}

func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// pathlensReused probes through the HTTP prober with a session, so every
// run after the first reuses the connection (check -n N --reuse).
func pathlensReused(b *testing.B, url string) func() error {
	t, _ := probe.ParseTarget(url)
	o := &probe.Options{Session: &probe.Session{}}
	b.Cleanup(o.Session.Close)
	first := true
	return func() error {
		r := engine.Check(context.Background(), t, o)
		if !r.Success {
			return fmt.Errorf("probe failed: %+v", r.Error)
		}
		if !first && !r.Conn.Reused {
			return fmt.Errorf("connection not reused")
		}
		first = false
		return nil
	}
}

// BenchmarkReusedRequest: the HTTP prober's request path on a reused
// connection against a plain http.Client on the same httptest server.
func BenchmarkReusedRequest(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	interleave(b, func() error { return drain(c.Get(srv.URL)) }, pathlensReused(b, srv.URL))
}

// BenchmarkReusedRequestTimeout: the same, against a plain client whose
// requests carry a deadline as every probe does (a cancellable context
// takes a costlier path inside net/http, so this isolates what the
// instrumentation itself adds).
func BenchmarkReusedRequestTimeout(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	base := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		return drain(c.Do(req))
	}
	interleave(b, base, pathlensReused(b, srv.URL))
}

// BenchmarkFullHandshake: full-handshake HTTPS probes (fresh connection,
// full TLS 1.3 handshake, GET, read) against a bare tls.Dial + GET loop.
// The resumption check (a second handshake) is off, as it would double the
// work being compared.
func BenchmarkFullHandshake(b *testing.B) {
	srv := httptest.NewTLSServer(okHandler())
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	addr := srv.Listener.Addr().String()
	cfg := &tls.Config{RootCAs: pool, ServerName: "example.com", NextProtos: []string{"http/1.1"}}
	base := func() error {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		return drain(http.ReadResponse(bufio.NewReader(c), nil))
	}
	t, _ := probe.ParseTarget(srv.URL)
	o := &probe.Options{RootCAs: pool, SkipResumptionCheck: true, HTTP1Only: true}
	pl := func() error {
		r := engine.Check(context.Background(), t, o)
		if !r.Success || r.TLS == nil || r.TLS.Resumed {
			return fmt.Errorf("probe: success=%v err=%+v", r.Success, r.Error)
		}
		return nil
	}
	interleave(b, base, pl)
}

// BenchmarkReusedRequestSaturated: BenchmarkReusedRequestTimeout with
// the cores kept busy (see interleaveSaturated): each worker probes with
// its own session (its own kept-alive connection) against its own
// deadline-carrying plain client.
func BenchmarkReusedRequestSaturated(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	interleaveSaturated(b, func() (func() error, func() error) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		b.Cleanup(c.CloseIdleConnections)
		base := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			return drain(c.Do(req))
		}
		return base, pathlensReused(b, srv.URL)
	})
}

// spin busy-waits for d: pure client-side CPU with no allocation.
func spin(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

// BenchmarkLatencySensitivity calibrates the harness: the plain client
// against the same plain client that first burns a 2.5 µs busy loop per
// request. The busy loop is exactly 2.5 µs of extra CPU; what the
// process's CPU actually grows by (extra-cpu-ns/op) shows how much a
// small per-request cost is amplified by the loopback ping-pong (threads
// spinning and parking around each message), and so how to read the
// cpu-ratio of the other benchmarks.
func BenchmarkLatencySensitivity(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	c1 := &http.Client{Transport: &http.Transport{}}
	c2 := &http.Client{Transport: &http.Transport{}}
	defer c1.CloseIdleConnections()
	defer c2.CloseIdleConnections()
	const busy = 2500 * time.Nanosecond
	interleave(b, func() error { return drain(c1.Get(srv.URL)) }, func() error {
		spin(busy)
		return drain(c2.Get(srv.URL))
	})
}

// BenchmarkReusedRequestParts splits the reused-probe cost: four sides
// interleaved (ABBA) — a plain client with a deadline; the same request
// through the http.Transport and counting connection a pathlens session
// holds; probe.Run (no diagnosis); engine.Check (probe and diagnosis).
// Each reports its extra CPU per request over the first.
func BenchmarkReusedRequestParts(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()
	withDeadline := func(c *http.Client) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			return drain(c.Do(req))
		}
	}
	plain := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer plain.CloseIdleConnections()
	t, _ := probe.ParseTarget(srv.URL)
	run := func(check bool) func() error {
		o := &probe.Options{Session: &probe.Session{}}
		b.Cleanup(o.Session.Close)
		return func() error {
			var r *probe.Result
			if check {
				r = engine.Check(context.Background(), t, o)
			} else {
				r = probe.Run(context.Background(), t, o)
			}
			if !r.Success {
				return fmt.Errorf("probe failed: %+v", r.Error)
			}
			return nil
		}
	}
	// The session's transport, after a first probe dialed it.
	o := &probe.Options{Session: &probe.Session{}}
	defer o.Session.Close()
	engine.Check(context.Background(), t, o)
	v, ok := o.Session.Load("http://" + t.URL.Host)
	tr, _ := v.(*http.Transport)
	if !ok || tr == nil {
		b.Fatal("no transport in the session")
	}
	names := []string{"plain", "session-transport", "probe.Run", "engine.Check"}
	sides := []func() error{withDeadline(plain), withDeadline(&http.Client{Transport: tr}), run(false), run(true)}
	cpu := make([]time.Duration, len(sides))
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; done, k = done+block, k+1 {
		n := min(block, b.N-done)
		for j := range sides {
			s := j
			if k&1 == 1 {
				s = len(sides) - 1 - j
			}
			c0 := cpuNow()
			for i := 0; i < n; i++ {
				if err := sides[s](); err != nil {
					b.Fatal(err)
				}
			}
			cpu[s] += cpuNow() - c0
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu[0])/float64(b.N), "plain-cpu-ns/op")
	for s := 1; s < len(sides); s++ {
		b.ReportMetric(float64(cpu[s]-cpu[0])/float64(b.N), names[s]+"-extra-cpu-ns/op")
	}
}
