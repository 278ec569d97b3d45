// Package bench measures pathlens against baselines in the same run. Run
// with `make bench` or bench/run.sh, which prints the ratios.
package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// reportCPU adds a cpu-ns/op metric: process CPU (client and the
// in-process server together) per operation.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
}

func okHandler() http.Handler {
	body := []byte("ok\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
}

// BenchmarkReusedRequest compares the HTTP prober's request path on a
// reused connection (check -n N --reuse) with a plain http.Client against
// the same httptest server.
func BenchmarkReusedRequest(b *testing.B) {
	srv := httptest.NewServer(okHandler())
	defer srv.Close()

	b.Run("baseline=http.Client", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer c.CloseIdleConnections()
		b.ReportAllocs()
		start := cpuNow()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := c.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		reportCPU(b, start)
	})
	b.Run("pathlens", func(b *testing.B) {
		t, _ := probe.ParseTarget(srv.URL)
		o := &probe.Options{Session: &probe.Session{}}
		defer o.Session.Close()
		b.ReportAllocs()
		start := cpuNow()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := engine.Check(context.Background(), t, o)
			if !r.Success {
				b.Fatalf("probe failed: %+v", r.Error)
			}
			if i > 0 && !r.Conn.Reused {
				b.Fatal("connection not reused")
			}
		}
		reportCPU(b, start)
	})
}

// BenchmarkFullHandshake compares full-handshake HTTPS probes per second
// (fresh connection, full TLS 1.3 handshake, GET, read) with a bare
// tls.Dial + GET loop. The resumption check (a second handshake) is off,
// as it would double the work being compared.
func BenchmarkFullHandshake(b *testing.B) {
	srv := httptest.NewTLSServer(okHandler())
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	addr := srv.Listener.Addr().String()

	b.Run("baseline=tls.Dial+GET", func(b *testing.B) {
		cfg := &tls.Config{RootCAs: pool, ServerName: "example.com", NextProtos: []string{"http/1.1"}}
		start := cpuNow()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.Close()
		}
		reportCPU(b, start)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
	})
	b.Run("pathlens", func(b *testing.B) {
		t, _ := probe.ParseTarget(srv.URL)
		o := &probe.Options{RootCAs: pool, SkipResumptionCheck: true, HTTP1Only: true}
		start := cpuNow()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := engine.Check(context.Background(), t, o)
			if !r.Success || r.TLS == nil || r.TLS.Resumed {
				b.Fatalf("probe: success=%v err=%+v", r.Success, r.Error)
			}
		}
		reportCPU(b, start)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
	})
}
