package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"
)

// Certificate subjects. The trusted root is the only certificate in ca.pem.
const (
	rootName           = "pathlens lab root"
	interName          = "pathlens lab intermediate"
	untrustedRootName  = "pathlens untrusted root"
	untrustedInterName = "pathlens untrusted intermediate"
	labOrg             = "pathlens lab"
)

const (
	day          = 24 * time.Hour
	leafLifetime = 90 * day
)

// authority is a CA certificate with its key.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// pki is the lab's certificate hierarchy: a trusted root and intermediate,
// and an untrusted root and intermediate that ca.pem does not contain.
type pki struct {
	now                           time.Time
	root, inter                   authority
	untrustedRoot, untrustedInter authority
}

func newPKI(now time.Time) (*pki, error) {
	p := &pki{now: now}
	caStart := now.Add(-365 * day)
	var err error
	if p.root, err = newCA(rootName, nil, caStart, now.AddDate(10, 0, 0)); err != nil {
		return nil, err
	}
	if p.inter, err = newCA(interName, &p.root, caStart, now.AddDate(5, 0, 0)); err != nil {
		return nil, err
	}
	if p.untrustedRoot, err = newCA(untrustedRootName, nil, caStart, now.AddDate(10, 0, 0)); err != nil {
		return nil, err
	}
	if p.untrustedInter, err = newCA(untrustedInterName, &p.untrustedRoot, caStart, now.AddDate(5, 0, 0)); err != nil {
		return nil, err
	}
	return p, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// newCA makes a CA certificate: self-signed when parent is nil, otherwise
// an intermediate (path length 0) signed by parent.
func newCA(cn string, parent *authority, notBefore, notAfter time.Time) (authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return authority{}, fmt.Errorf("lab: key for %q: %w", cn, err)
	}
	serial, err := serialNumber()
	if err != nil {
		return authority{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{labOrg}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, &key.PublicKey, issuerKey)
	if err != nil {
		return authority{}, fmt.Errorf("lab: certificate %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return authority{}, err
	}
	return authority{cert: cert, key: key}, nil
}

// leafSpec describes a server certificate. Zero times mean the default
// validity: from an hour ago for leafLifetime.
type leafSpec struct {
	dnsNames            []string
	ips                 []net.IP
	notBefore, notAfter time.Time
}

// issue signs a server leaf for spec with a.
func (a authority) issue(now time.Time, spec leafSpec) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = now.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = now.Add(leafLifetime)
	}
	cn := "pathlens lab leaf"
	if len(spec.dnsNames) > 0 {
		cn = spec.dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{labOrg}},
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: leaf %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// ClientCert issues a client certificate (extended key usage clientAuth)
// from the lab's trusted intermediate, with that intermediate in its
// chain: the certificate the lab's servers that require one accept.
func (l *Lab) ClientCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := l.pki.now
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "pathlens lab client", Organization: []string{labOrg}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	inter := l.pki.inter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter.cert, &key.PublicKey, inter.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("lab: client certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, inter.cert.Raw}, PrivateKey: key}, nil
}

// chainKind selects which certificates a TLS server sends after its leaf.
type chainKind int

const (
	chainNormal    chainKind = iota // leaf, intermediate
	chainLeafOnly                   // leaf
	chainRootFirst                  // leaf, root, intermediate
	chainUntrusted                  // untrusted leaf, untrusted intermediate, untrusted root
	chainHuge                       // leaf, hugeChainDepth intermediates up to the trusted root
)

// hugeChainDepth is how many intermediates tls-chain-huge sends between
// its leaf and the lab root. Their keys are P-384 (one key, shared), whose
// signatures cost a Go client some ten times a P-256 one to verify, so
// that verification dominates the handshake on any machine; at this
// depth Go's verifier gives up (100 signature checks), as clients do.
const hugeChainDepth = 200

// hugeStack is tls-chain-huge's chain below its top intermediate: built
// once per process (199 P-384 signatures take tens of milliseconds, too
// long for every Start), under one P-384 key that every intermediate
// shares. Each Start has its fresh root sign the top, whose key is that
// same key, so the stack chains to the lab root of every Start.
type hugeStack struct {
	key   *ecdsa.PrivateKey
	top   pkix.Name           // subject of the top intermediate, which the lab root issues
	certs []*x509.Certificate // below the top, nearest it first
}

var buildHugeStack = sync.OnceValues(func() (*hugeStack, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	name := func(i int) pkix.Name {
		return pkix.Name{CommonName: fmt.Sprintf("pathlens lab huge chain %d", i), Organization: []string{labOrg}}
	}
	h := &hugeStack{key: key, top: name(hugeChainDepth)}
	start := time.Now().Add(-365 * day)
	parent := &x509.Certificate{Subject: h.top, PublicKey: &key.PublicKey}
	for i := hugeChainDepth - 1; i >= 1; i-- {
		c, err := caCert(name(i), parent, &key.PublicKey, key, start, start.AddDate(10, 0, 0))
		if err != nil {
			return nil, err
		}
		h.certs = append(h.certs, c)
		parent = c
	}
	return h, nil
})

// caCert signs a CA certificate (no path length limit) for subject and
// pub with parent's key priv.
func caCert(subject pkix.Name, parent *x509.Certificate, pub any, priv *ecdsa.PrivateKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("lab: certificate %q: %w", subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// hugeChain is tls-chain-huge's issuer for a leaf (the bottom
// intermediate, with the stack's key) and the intermediates to send after
// the leaf, bottom first, ending with the top this pki's root issued.
func (p *pki) hugeChain() (authority, [][]byte, error) {
	h, err := buildHugeStack()
	if err != nil {
		return authority{}, nil, err
	}
	top, err := caCert(h.top, p.root.cert, &h.key.PublicKey, p.root.key, p.now.Add(-365*day), p.now.AddDate(5, 0, 0))
	if err != nil {
		return authority{}, nil, err
	}
	chain := make([][]byte, 0, hugeChainDepth)
	for i := len(h.certs) - 1; i >= 0; i-- {
		chain = append(chain, h.certs[i].Raw)
	}
	chain = append(chain, top.Raw)
	return authority{cert: h.certs[len(h.certs)-1], key: h.key}, chain, nil
}

// serverCert issues a leaf for spec and assembles the certificate chain a
// TLS server presents, as selected by kind.
func (p *pki) serverCert(kind chainKind, spec leafSpec) (tls.Certificate, error) {
	issuer := p.inter
	var huge [][]byte
	switch kind {
	case chainUntrusted:
		issuer = p.untrustedInter
	case chainHuge:
		var err error
		if issuer, huge, err = p.hugeChain(); err != nil {
			return tls.Certificate{}, err
		}
	}
	leaf, key, err := issuer.issue(p.now, spec)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain := [][]byte{leaf.Raw}
	switch kind {
	case chainHuge:
		chain = append(chain, huge...)
	case chainNormal:
		chain = append(chain, p.inter.cert.Raw)
	case chainLeafOnly:
	case chainRootFirst:
		chain = append(chain, p.root.cert.Raw, p.inter.cert.Raw)
	case chainUntrusted:
		chain = append(chain, p.untrustedInter.cert.Raw, p.untrustedRoot.cert.Raw)
	default:
		return tls.Certificate{}, fmt.Errorf("lab: unknown chain kind %d", kind)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// labLeaf is the usual leaf spec for a scenario: <name>.lab.test and 127.0.0.1.
func labLeaf(name string) leafSpec {
	return leafSpec{
		dnsNames: []string{name + ".lab.test"},
		ips:      []net.IP{net.IPv4(127, 0, 0, 1)},
	}
}

// writeCAFile writes root as PEM to path with mode 0644 (regardless of umask).
func writeCAFile(path string, root *x509.Certificate) error {
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("lab: write CA file: %w", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return fmt.Errorf("lab: chmod CA file: %w", err)
	}
	return nil
}
