//go:build linux

package netns

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// curlConnect runs curl in A against url and returns its time_connect.
func curlConnect(t *testing.T, d *DelayLine, url string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := d.ExecA(ctx, "curl", "-sS", "-o", "/dev/null", "--noproxy", "*",
		"--max-time", "5", "-w", "%{time_connect}", url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl in %s: %v: %s", d.NameA(), err, out)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("curl time_connect %q: %v", out, err)
	}
	return time.Duration(sec * float64(time.Second))
}

func medianConnect(t *testing.T, d *DelayLine, url string) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range 3 {
		ds = append(ds, curlConnect(t, d, url))
	}
	slices.Sort(ds)
	t.Logf("curl time_connect over %v one-way: %v (median of %v)", d.OneWay(), ds[1], ds)
	return ds[1]
}

func TestDelayLineConnectRTT(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	d := NewDelayLine(t, 20*time.Millisecond)
	got := medianConnect(t, d, d.ServeHTTPB(t))
	if got < 38*time.Millisecond || got > 80*time.Millisecond {
		t.Errorf("TCP connect over a 20 ms one-way line took %v, want 38–80 ms (one RTT)", got)
	}
	if n := d.Dropped(); n != 0 {
		t.Errorf("line dropped %d packets", n)
	}
}

func TestDelayLineZeroDelay(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	d := NewDelayLine(t, 0)
	got := medianConnect(t, d, d.ServeHTTPB(t))
	if got >= 10*time.Millisecond {
		t.Errorf("TCP connect over a zero-delay line took %v, want < 10 ms", got)
	}
}

// TestDelayLineOverlap checks that packets in flight overlap: several
// connects started together each take one RTT, not one RTT per packet
// queued ahead of them.
func TestDelayLineOverlap(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	d := NewDelayLine(t, 20*time.Millisecond)
	url := d.ServeHTTPB(t)
	const n = 4
	res := make(chan time.Duration, n)
	start := time.Now()
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := d.ExecA(ctx, "curl", "-sS", "-o", "/dev/null", "--noproxy", "*",
				"--max-time", "5", "-w", "%{time_connect}", url).CombinedOutput()
			sec, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			if err != nil || perr != nil {
				res <- -1
				return
			}
			res <- time.Duration(sec * float64(time.Second))
		}()
	}
	for range n {
		got := <-res
		if got < 0 {
			t.Fatal("curl in A failed")
		}
		if got < 38*time.Millisecond || got > 80*time.Millisecond {
			t.Errorf("concurrent connect took %v, want one RTT (38–80 ms)", got)
		}
	}
	total := time.Since(start)
	t.Logf("%d concurrent fetches (2 RTTs each) finished in %v", n, total)
	if serial := n * 2 * 2 * d.OneWay(); total >= serial {
		t.Errorf("%d concurrent fetches took %v, as long as running them one after another (%v)", n, total, serial)
	}
}

// TestCleanupRemovesNamespaces checks that a delay line's namespaces are
// gone once the test that made it has finished.
func TestCleanupRemovesNamespaces(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	var names []string
	t.Run("line", func(t *testing.T) {
		d := NewDelayLine(t, time.Millisecond)
		names = []string{d.NameA(), d.NameB()}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(netnsDir, n)); err != nil {
				t.Errorf("namespace %s missing while in use: %v", n, err)
			}
		}
	})
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(netnsDir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still present after cleanup (stat: %v)", n, err)
		}
	}
}

func TestNamesAndAddrs(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	d := NewDelayLine(t, 0)
	if d.NameA() == d.NameB() || !strings.HasPrefix(d.NameA(), "pl-") {
		t.Errorf("names %q, %q", d.NameA(), d.NameB())
	}
	if d.AddrA().String() != "10.231.0.1" || d.AddrB().String() != "10.231.0.2" {
		t.Errorf("addrs %v, %v", d.AddrA(), d.AddrB())
	}
	// A has no route out of the link: nothing but loopback and the /30.
	out, err := d.ExecA(context.Background(), "ip", "-4", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route in A: %v: %s", err, out)
	}
	if strings.Contains(string(out), "default") {
		t.Errorf("namespace A has a default route:\n%s", out)
	}
}
