package probe

import (
	"crypto/x509"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// analyzeChainRef is analyzeChain as it was before it reused the order
// check's signature verdicts: every signature checked where it is needed.
func analyzeChainRef(sent []*x509.Certificate, roots *x509.CertPool, now time.Time) *ChainAnalysis {
	a := &ChainAnalysis{OrderOK: true}
	if len(sent) == 0 {
		return a
	}
	for i := 0; i+1 < len(sent); i++ {
		if !issuedBy(sent[i], sent[i+1]) {
			a.OrderOK = false
			a.MisorderedAt = i
			break
		}
	}
	path := []*x509.Certificate{sent[0]}
	used := map[int]bool{0: true}
	for {
		cur := path[len(path)-1]
		if selfSigned(cur) {
			break
		}
		found := -1
		for j, c := range sent {
			if !used[j] && issuedBy(cur, c) {
				found = j
				break
			}
		}
		if found < 0 {
			break
		}
		used[found] = true
		path = append(path, sent[found])
	}
	last := path[len(path)-1]
	a.PathLen = len(path)
	a.EndsAt = last.Subject.String()
	a.EndsSelfSigned = selfSigned(last)
	a.AIA = last.IssuingCertificateURL
	if !a.EndsSelfSigned {
		a.IssuerInStore = issuerInStore(last, roots, now)
		if !a.IssuerInStore {
			a.MissingIssuer = last.Issuer.String()
		}
	}
	if a.OrderOK && len(path) < len(sent) {
		a.OrderOK = len(path) == len(sent)
		if !a.OrderOK {
			a.MisorderedAt = len(path) - 1
		}
	}
	return a
}

// analyzeChain checks each signature once where it used to check the
// order check's pairs twice; its reading of any chain — in order, out of
// order, with gaps, strays, duplicates and a second issuer of the same
// name and key — is the one it had.
func TestAnalyzeChainSameVerdicts(t *testing.T) {
	root := newTestCert(t, "root", nil, nil)
	inter := newTestCert(t, "inter", &root, nil)
	inter2 := newTestCert(t, "inter 2", &inter, nil)
	leaf := newTestCert(t, "leaf", &inter2, nil)
	twin := newTestCert(t, "inter 2", &inter, inter2.key) // same name and key, another certificate
	stray := newTestCert(t, "stray", nil, nil)
	other := newTestCert(t, "other inter", &stray, nil)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	pool := []*x509.Certificate{inter.cert, inter2.cert, root.cert, twin.cert, stray.cert, other.cert, inter2.cert}
	now := time.Now()
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := range 400 {
		sent := []*x509.Certificate{leaf.cert}
		if i%7 == 0 {
			sent = []*x509.Certificate{inter2.cert} // an intermediate first
		}
		for _, j := range rng.Perm(len(pool))[:rng.IntN(len(pool)+1)] {
			sent = append(sent, pool[j])
		}
		want := analyzeChainRef(sent, roots, now)
		if got := analyzeChain(sent, roots, now); !reflect.DeepEqual(got, want) {
			names := make([]string, len(sent))
			for k, c := range sent {
				names[k] = c.Subject.CommonName
			}
			t.Fatalf("chain %v:\n got %+v\nwant %+v", names, got, want)
		}
	}
	// The usual chains, spelled out.
	for _, tc := range []struct {
		sent []*x509.Certificate
		want ChainAnalysis
	}{
		{[]*x509.Certificate{leaf.cert, inter2.cert, inter.cert}, ChainAnalysis{OrderOK: true, PathLen: 3, EndsAt: "CN=inter", IssuerInStore: true}},
		{[]*x509.Certificate{leaf.cert, inter.cert, inter2.cert}, ChainAnalysis{MisorderedAt: 0, PathLen: 3, EndsAt: "CN=inter", IssuerInStore: true}},
		{[]*x509.Certificate{leaf.cert, inter2.cert, stray.cert}, ChainAnalysis{MisorderedAt: 1, PathLen: 2, EndsAt: "CN=inter 2", MissingIssuer: "CN=inter"}},
		{[]*x509.Certificate{leaf.cert, inter2.cert, inter.cert, root.cert}, ChainAnalysis{OrderOK: true, PathLen: 4, EndsAt: "CN=root", EndsSelfSigned: true}},
	} {
		if got := analyzeChain(tc.sent, roots, now); !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%v: got %+v, want %+v", fmt.Sprint(len(tc.sent)), *got, tc.want)
		}
	}
}
