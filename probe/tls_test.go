package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestCipherSuiteNameMatchesCryptoTLS(t *testing.T) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_RC4_128_SHA, 0x1234} {
		if got, want := CipherSuiteName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("%#04x: %q, crypto/tls says %q", id, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = CipherSuiteName(tls.TLS_AES_128_GCM_SHA256) }); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

// ConnAddrs finds the pathlens Conn under a TLS connection and formats
// its addresses once.
func TestConnAddrsThroughTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := NewConn(addrConn{a}, 0)
	tc := tls.Client(c, &tls.Config{})
	r, l := ConnAddrs(tc)
	if r != "192.0.2.1:443" || l != "127.0.0.1:5555" {
		t.Fatalf("addrs %q %q", r, l)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = ConnAddrs(tc) }); n != 0 {
		t.Errorf("%v allocations per call after the first", n)
	}
	r, l = ConnAddrs(addrConn{a}) // not a *Conn: formatted each time
	if r != "192.0.2.1:443" || l != "127.0.0.1:5555" {
		t.Fatalf("plain addrs %q %q", r, l)
	}
}

type addrConn struct{ net.Conn }

func (addrConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}
}
func (addrConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555} }

// testCA is a certificate with its key.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newTestCert issues a CA certificate named cn by parent (self-signed
// when parent is nil), with key (a new one when nil).
func newTestCert(t testing.TB, cn string, parent *testCA, key *ecdsa.PrivateKey) testCA {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: mrandSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{c, key}
}

var serials atomic.Int64

func mrandSerial() *big.Int { return big.NewInt(serials.Add(1)) }

// failWrites is a connection whose writes fail once fail is set, as a
// socket the peer has reset does.
type failWrites struct {
	net.Conn
	fail atomic.Bool
}

func (c *failWrites) Write(b []byte) (int, error) {
	if c.fail.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	}
	return c.Conn.Write(b)
}

// A TLS 1.3 server that requires a client certificate rejects one
// without after the client's handshake; when the client's first write
// fails (the server closed) before anything read the alert, AppConn reads
// it, and LateAlert reports the tls phase's failure with it.
func TestLateAlertBehindAFailedWrite(t *testing.T) {
	root := newTestCert(t, "root", nil, nil)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "server"}, DNSNames: []string{"server.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, &leafKey.PublicKey, root.key)
	if err != nil {
		t.Fatal(err)
	}
	cpool := x509.NewCertPool()
	cpool.AddCert(root.cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: leafKey}},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cpool, MinVersion: tls.VersionTLS13})
		_ = s.Handshake() // fails: no client certificate; the alert goes out
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fw := &failWrites{Conn: raw}
	r := &Result{}
	d := &Dialer{Opts: &Options{RootCAs: cpool}, Rec: NewRecorder(), Res: r}
	tc, err := d.Handshake(context.Background(), fw, d.TLSConfig("server.test", nil))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	<-done // the server has sent its alert and closed
	fw.fail.Store(true)
	conn := d.AppConn(tc)
	_, werr := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if !errors.Is(werr, syscall.EPIPE) || !IsTLSAlert(werr) {
		t.Errorf("write error %v, want the broken pipe with the alert it hid", werr)
	}
	pe := d.LateAlert(errors.New("the protocol above's own words: broken pipe"))
	if pe == nil || pe.Phase != PhaseTLS || pe.Class != ClassTLS || pe.Cause != CauseAlert {
		t.Fatalf("LateAlert = %v, want the tls phase's alert", pe)
	}
	if ti := r.TLS; !ti.AlertAfterHandshake || !strings.Contains(ti.Alert, "certificate required") || !ti.ClientCertRequested || ti.ClientCertSent {
		t.Errorf("tls %+v, want the late certificate_required after an unanswered certificate request", ti)
	}

	// Application data first: the server's handshake was done, a later
	// alert is not its verdict on the client.
	d2 := &Dialer{Res: &Result{TLS: &TLSInfo{Version: "TLS 1.3"}}}
	d2.app = &appConn{}
	d2.app.got.Store(true)
	if pe := d2.LateAlert(&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}); pe != nil {
		t.Errorf("LateAlert after application data = %v, want nil", pe)
	}
	// Below TLS 1.3 the server verifies before its Finished.
	d3 := &Dialer{Res: &Result{TLS: &TLSInfo{Version: "TLS 1.2"}}}
	if pe := d3.LateAlert(&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}); pe != nil {
		t.Errorf("LateAlert on TLS 1.2 = %v, want nil", pe)
	}
}
