package probe

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultVerifyCacheTTL is how long serve reuses a chain's verdict, and
// DefaultVerifyCacheSize how many chains it remembers.
const (
	DefaultVerifyCacheTTL  = 5 * time.Minute
	DefaultVerifyCacheSize = 10000
)

// VerifyCache remembers the verdict of pathlens's certificate checks on a
// chain — x509 verification, the chain analysis and the recorded
// certificates — so that a scheduler probing a server every few seconds
// does not verify the same chain against the same roots on every run:
// the signature checks cost about as much CPU as the client's half of the
// handshake. A verdict is reused only for the same certificates (byte for
// byte, in the order sent), the same name and the same trust store, for at
// most TTL and never past a moment where it could change (a certificate's
// NotAfter or NotBefore still ahead). The handshake's own signature,
// which proves the server holds the leaf's key, is checked by crypto/tls
// on every connection regardless. Set it on Options.VerifyCache; one
// cache serves any number of targets and is safe for concurrent use.
// `pathlens check` uses none: it verifies every time.
type VerifyCache struct {
	// TTL bounds how long a verdict is reused (≤ 0: DefaultVerifyCacheTTL).
	TTL time.Duration
	// Size bounds the chains remembered (≤ 0: DefaultVerifyCacheSize).
	Size int

	mu   sync.Mutex
	m    map[verifyKey]*verifyVerdict
	hits atomic.Int64
}

type verifyKey struct {
	chain [sha256.Size]byte // of the sent certificates' SHA-256s, in order
	name  string
	roots *x509.CertPool // nil: the system store
}

// verifyVerdict is what verify records for a chain.
type verifyVerdict struct {
	until         time.Time
	chain         []Cert
	verified      bool
	verifiedChain []Cert
	verifyErr     string
	reason        string
	hostnameErr   string
	analysis      ChainAnalysis
	err           error // Verify's error, nil when verified
}

// key is the cache key of a chain sent to name, verified against roots.
func chainKey(sent []*x509.Certificate, name string, roots *x509.CertPool) verifyKey {
	h := sha256.New()
	for _, c := range sent {
		sum := sha256.Sum256(c.Raw)
		h.Write(sum[:])
	}
	k := verifyKey{name: name, roots: roots}
	h.Sum(k.chain[:0])
	return k
}

func (c *VerifyCache) get(k verifyKey, now time.Time) *verifyVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[k]
	if v == nil || !now.Before(v.until) {
		return nil
	}
	c.hits.Add(1)
	return v
}

func (c *VerifyCache) put(k verifyKey, v *verifyVerdict, now time.Time) {
	ttl, size := c.TTL, c.Size
	if ttl <= 0 {
		ttl = DefaultVerifyCacheTTL
	}
	if size <= 0 {
		size = DefaultVerifyCacheSize
	}
	v.until = now.Add(ttl)
	for _, cs := range [][]Cert{v.chain, v.verifiedChain} {
		for _, ce := range cs {
			if ce.NotAfter.After(now) && ce.NotAfter.Before(v.until) {
				v.until = ce.NotAfter
			}
			if ce.NotBefore.After(now) && ce.NotBefore.Before(v.until) {
				v.until = ce.NotBefore
			}
		}
	}
	if !now.Before(v.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[verifyKey]*verifyVerdict{}
	}
	if len(c.m) >= size {
		for key, old := range c.m { // expired first, else any
			if !now.Before(old.until) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < size {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = v
}

// Hits is the number of verifications the cache saved.
func (c *VerifyCache) Hits() int64 { return c.hits.Load() }

// Len is the number of chains remembered (expired ones included until
// they are pushed out).
func (c *VerifyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// apply records a remembered verdict in info and returns Verify's error.
func (v *verifyVerdict) apply(info *TLSInfo) error {
	info.Chain = append([]Cert(nil), v.chain...)
	info.Verified = v.verified
	if v.verifiedChain != nil {
		info.VerifiedChain = append([]Cert(nil), v.verifiedChain...)
	}
	info.VerifyError, info.VerifyReason, info.HostnameError = v.verifyErr, v.reason, v.hostnameErr
	a := v.analysis
	info.Analysis = &a
	return v.err
}

// verdictOf captures what verify recorded in info, with Verify's error.
func verdictOf(info *TLSInfo, err error) *verifyVerdict {
	v := &verifyVerdict{
		chain:         info.Chain,
		verified:      info.Verified,
		verifiedChain: info.VerifiedChain,
		verifyErr:     info.VerifyError,
		reason:        info.VerifyReason,
		hostnameErr:   info.HostnameError,
		err:           err,
	}
	if info.Analysis != nil {
		v.analysis = *info.Analysis
	}
	return v
}
