// Package optparse reads the values that both `check` flags and the
// `serve` config accept — CA and key files, sizes, host:port — so that the
// two parse them alike and report them with the same words.
package optparse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// MaxPEMSize bounds CA, certificate and key files.
const MaxPEMSize = 1 << 20

// ReadSmallFile reads a regular file of at most limit bytes. Devices,
// pipes and directories are refused so that a config naming /dev/stdin or
// a FIFO cannot hang the load.
func ReadSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, UnwrapPathErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, UnwrapPathErr(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, UnwrapPathErr(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	return b, nil
}

// LoadCA reads a PEM file of CA certificates into a pool.
func LoadCA(path string) (*x509.CertPool, error) {
	b, err := ReadSmallFile(path, MaxPEMSize)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate found in it", path)
	}
	return pool, nil
}

// LoadKeyPair reads a client certificate and its key; errors never
// contain key material.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := ReadSmallFile(certFile, MaxPEMSize)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ReadSmallFile(keyFile, MaxPEMSize)
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The key file's content never appears in the message.
		return nil, fmt.Errorf("%s / %s: %v", certFile, keyFile, scrubKeyErr(err))
	}
	return &c, nil
}

// UnwrapPathErr drops the *os.PathError wrapper (the caller names the path).
func UnwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// scrubKeyErr keeps crypto/tls's reason but never key material.
func scrubKeyErr(err error) error {
	msg := UnwrapPathErr(err).Error()
	if i := strings.Index(msg, "-----"); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(strings.TrimSpace(msg))
}

// NormalizeHostPort turns "addr" or "addr:port" into "addr:port" with defPort
// as the default, checking the port.
func NormalizeHostPort(s, defPort string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			host, port = strings.Trim(s, "[]"), defPort
		} else {
			return "", errors.New("want addr:port")
		}
	}
	if host == "" {
		return "", errors.New("no address")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// ParseSize reads 1000, 512KiB, 10MiB, 1GiB, 10MB, 10k.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	units := []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(t, u.suf) {
			mult = u.m
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suf))
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a positive size such as 1000, 512KiB or 10MiB")
	}
	return n * mult, nil
}
