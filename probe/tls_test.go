package probe

import (
	"crypto/tls"
	"net"
	"testing"
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
