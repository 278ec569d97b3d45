//go:build !race

package client_test

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/probe"
)

// TestObservingAllocates: on a reused connection, a request with
// observer and metrics allocates no more than one without them. The
// state of an attempt is recycled; its context, its Result's blocks and
// the body wrapper are one allocation, which replaces the wrapper a
// client without observer allocates for the deadline. (Not under -race,
// where sync.Pool drops items at random.)
func TestObservingAllocates(t *testing.T) {
	srv := okServer(t)
	plain := client.New()
	observed := client.New(client.WithObserver(func(probe.Result) {}), client.WithMetrics(prometheus.NewRegistry()))
	closeClient(t, plain)
	closeClient(t, observed)
	for range 10 {
		get(t, plain, srv.URL)
		get(t, observed, srv.URL)
	}
	// net/http allocates one object less now and then, depending on how
	// its reader and writer goroutines interleave (on a loaded machine,
	// for whole runs): compare the least of a few runs of each, with one
	// allocation of slack. An exchange not recycled costs six.
	base, got := math.Inf(1), math.Inf(1)
	for range 5 {
		base = min(base, testing.AllocsPerRun(100, func() { get(t, plain, srv.URL) }))
		got = min(got, testing.AllocsPerRun(100, func() { get(t, observed, srv.URL) }))
	}
	if got > base+1 {
		t.Errorf("%.1f allocations per observed request, %.1f without observer and metrics", got, base)
	}
}
