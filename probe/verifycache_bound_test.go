package probe

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestVerifyCacheBounds: a verdict is kept no longer than its TTL, nor
// past the NotAfter of a certificate of its chains or a NotBefore still
// ahead (the verdict would change then), and the cache never holds more
// than Size chains.
func TestVerifyCacheBounds(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := &VerifyCache{TTL: time.Hour, Size: 3}
	key := func(name string) verifyKey { return chainKey(nil, name, nil) }
	long := Cert{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour)}
	for _, tc := range []struct {
		name  string
		chain []Cert
		want  time.Duration // from now; 0: not kept
	}{
		{"ttl", []Cert{long}, time.Hour},
		{"expires", []Cert{long, {NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * time.Minute)}}, 10 * time.Minute},
		{"not-yet-valid", []Cert{{NotBefore: now.Add(5 * time.Minute), NotAfter: now.Add(48 * time.Hour)}}, 5 * time.Minute},
		{"expired", []Cert{{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(-time.Minute)}}, time.Hour},
	} {
		v := &verifyVerdict{chain: tc.chain}
		c.put(key(tc.name), v, now)
		if got := v.until.Sub(now); got != tc.want {
			t.Errorf("%s: kept for %v, want %v", tc.name, got, tc.want)
		}
		if c.get(key(tc.name), now.Add(tc.want-time.Second)) == nil {
			t.Errorf("%s: not found before its bound", tc.name)
		}
		if c.get(key(tc.name), now.Add(tc.want)) != nil {
			t.Errorf("%s: found at its bound", tc.name)
		}
	}
	if c.Len() > 3 {
		t.Errorf("cache holds %d chains, Size is 3", c.Len())
	}
	if chainKey(nil, "a", nil) == chainKey(nil, "a", x509.NewCertPool()) || chainKey(nil, "a", nil) == chainKey(nil, "b", nil) {
		t.Error("the key ignores the trust store or the name")
	}
}
