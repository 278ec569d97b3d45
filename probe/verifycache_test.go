package probe_test

import (
	"context"
	"crypto/x509"
	"reflect"
	"testing"
	"time"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// TestVerifyCacheSameVerdict: with a VerifyCache, the second probe of
// each lab TLS server reuses the first one's verification and records
// exactly what a probe without the cache records — the chain, the
// verdict, its reason and the chain analysis — so every TLS finding
// stays the same, for trusted and for broken chains alike.
func TestVerifyCacheSameVerdict(t *testing.T) {
	names := []string{"ok-h2", "tls-incomplete-chain", "tls-wrong-order", "tls-untrusted-root", "tls-wrong-host", "tls-expiring", "tls-expired"}
	l := probetest.StartLab(t, names...)
	cache := &probe.VerifyCache{}
	pool := l.CAPool() // one trust store, as a module has
	for i, name := range names {
		sc := probetest.LabScenario(t, l, name)
		tg, err := probe.ParseTarget(sc.Target)
		if err != nil {
			t.Fatal(err)
		}
		opts := func(c *probe.VerifyCache) *probe.Options {
			return &probe.Options{RootCAs: pool, CAFile: "lab", DNSServer: l.DNSServer(), Timeout: 5 * time.Second,
				SkipResumptionCheck: true, VerifyCache: c}
		}
		ref := engine.Check(context.Background(), tg, opts(nil))
		engine.Check(context.Background(), tg, opts(cache)) // fills the cache
		hits := cache.Hits()
		got := engine.Check(context.Background(), tg, opts(cache))
		if cache.Hits() != hits+1 {
			t.Errorf("%s: the second probe did not reuse the verdict (hits %d → %d)", name, hits, cache.Hits())
		}
		if ref.TLS == nil || got.TLS == nil {
			t.Fatalf("%s: no TLS section (ref %v, cached %v)", name, ref.TLS != nil, got.TLS != nil)
		}
		a, b := *ref.TLS, *got.TLS
		for _, x := range []*probe.TLSInfo{&a, &b} { // what differs run to run
			x.Resumption = nil
		}
		if !reflect.DeepEqual(a.Chain, b.Chain) || a.Verified != b.Verified || !reflect.DeepEqual(a.VerifiedChain, b.VerifiedChain) ||
			a.VerifyError != b.VerifyError || a.VerifyReason != b.VerifyReason || a.HostnameError != b.HostnameError ||
			!reflect.DeepEqual(a.Analysis, b.Analysis) {
			t.Errorf("%s: cached verdict differs:\n got %+v\nwant %+v", name, b, a)
		}
		if g, w := probetest.FindingIDs(got), probetest.FindingIDs(ref); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: findings %v with the cache, %v without", name, g, w)
		}
		if g, w := got.Success, ref.Success; g != w {
			t.Errorf("%s: success %v with the cache, %v without", name, g, w)
		}
		if cache.Len() != i+1 {
			t.Errorf("%s: cache holds %d chains, want %d", name, cache.Len(), i+1)
		}
	}
}

// TestVerifyCacheKeys: a verdict is not reused for another trust store
// (the same chain then fails verification) or once its TTL has passed.
func TestVerifyCacheKeys(t *testing.T) {
	l := probetest.StartLab(t, "ok-h2")
	tg, err := probe.ParseTarget(probetest.LabScenario(t, l, "ok-h2").Target)
	if err != nil {
		t.Fatal(err)
	}
	cache := &probe.VerifyCache{TTL: 300 * time.Millisecond}
	o := &probe.Options{RootCAs: l.CAPool(), DNSServer: l.DNSServer(), Timeout: 5 * time.Second, SkipResumptionCheck: true, VerifyCache: cache}
	if r := engine.Check(context.Background(), tg, o); !r.Success {
		t.Fatalf("probe failed: %+v", r.Error)
	}
	other := *o
	other.RootCAs = x509.NewCertPool()
	r := engine.Check(context.Background(), tg, &other)
	if r.Success || r.TLS == nil || r.TLS.Verified || r.TLS.VerifyReason != "unknown_authority" {
		t.Fatalf("another trust store reused the verdict: success %v, tls %+v", r.Success, r.TLS)
	}
	if cache.Hits() != 0 {
		t.Errorf("hits = %d, want 0", cache.Hits())
	}
	time.Sleep(350 * time.Millisecond)
	if r := engine.Check(context.Background(), tg, o); !r.Success || cache.Hits() != 0 {
		t.Errorf("after the TTL: success %v, hits %d (want a fresh verification)", r.Success, cache.Hits())
	}
	if r := engine.Check(context.Background(), tg, o); !r.Success || cache.Hits() != 1 {
		t.Errorf("within the TTL: success %v, hits %d, want 1", r.Success, cache.Hits())
	}
}
