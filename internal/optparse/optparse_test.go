package optparse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1000": 1000, "512KiB": 512 << 10, "10MiB": 10 << 20, "1GiB": 1 << 30, "10MB": 10e6, "10k": 10 << 10, " 3 M ": 3 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1", "0", "1.5MiB", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestNormalizeHostPort(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1": "127.0.0.1:53", "127.0.0.1:5353": "127.0.0.1:5353", "[::1]": "[::1]:53", "[::1]:99": "[::1]:99"} {
		if got, err := NormalizeHostPort(in, "53"); err != nil || got != want {
			t.Errorf("NormalizeHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{":53", "1.2.3.4:0", "1.2.3.4:99999", "a:b:c"} {
		if _, err := NormalizeHostPort(in, "53"); err == nil {
			t.Errorf("NormalizeHostPort(%q) accepted", in)
		}
	}
}

func TestLoadFilesRefuseOddInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o644)
	if _, err := LoadCA(junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("LoadCA(junk) = %v", err)
	}
	if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadCA(dir) = %v", err)
	}
	big := filepath.Join(dir, "big.pem")
	os.WriteFile(big, make([]byte, MaxPEMSize+1), 0o644)
	if _, err := LoadCA(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadCA(big) = %v", err)
	}
	key := filepath.Join(dir, "key.pem")
	secret := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
	os.WriteFile(key, []byte(secret), 0o600)
	_, err := LoadKeyPair(junk, key)
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("LoadKeyPair error leaks key material or succeeds: %v", err)
	}
}
