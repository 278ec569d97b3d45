package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pathlens/pathlens/probe"
)

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every key kind mints a token the matching public key verifies, with the
// claims merged and iat/exp set from the probe's start and the TTL.
func TestJWTSourceMints(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("  s3cret-value-for-hs256\n"), 0o600)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ek384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ek)
	ec384DER, _ := x509.MarshalECPrivateKey(ek384)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rk)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edk)
	now := time.Unix(1_800_000_000, 500_000_000)
	for _, tc := range []struct {
		name   string
		cfg    JWTConfig
		alg    string
		verify any
	}{
		{"hs256", JWTConfig{SecretFile: secretFile}, "HS256", []byte("s3cret-value-for-hs256")},
		{"rs256-pkcs1", JWTConfig{KeyFile: writePEM(t, dir, "rsa1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))}, "RS256", &rk.PublicKey},
		{"rs256-pkcs8", JWTConfig{KeyFile: writePEM(t, dir, "rsa8.pem", "PRIVATE KEY", pkcs8)}, "RS256", &rk.PublicKey},
		{"es256", JWTConfig{KeyFile: writePEM(t, dir, "ec.pem", "EC PRIVATE KEY", ecDER)}, "ES256", &ek.PublicKey},
		{"es384", JWTConfig{KeyFile: writePEM(t, dir, "ec384.pem", "EC PRIVATE KEY", ec384DER)}, "ES384", &ek384.PublicKey},
		{"eddsa", JWTConfig{KeyFile: writePEM(t, dir, "ed.pem", "PRIVATE KEY", edDER)}, "EdDSA", edk.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Claims = map[string]any{"sub": "probe", "aud": "chat", "n": json.Number("12345678901234567890")}
			tc.cfg.TTL = 90 * time.Second
			src, err := NewJWTSource(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if src.Alg() != tc.alg || src.Kind() != "jwt-"+strings.ToLower(tc.alg) {
				t.Errorf("alg %s kind %s", src.Alg(), src.Kind())
			}
			tok, err := src.Token(now)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Exp != time.Unix(1_800_000_090, 0).UTC() {
				t.Errorf("exp %v", tok.Exp)
			}
			claims := jwt.MapClaims{}
			parsed, err := jwt.ParseWithClaims(tok.Value, claims, func(*jwt.Token) (any, error) { return tc.verify, nil },
				jwt.WithValidMethods([]string{tc.alg}), jwt.WithTimeFunc(func() time.Time { return now }))
			if err != nil || !parsed.Valid {
				t.Fatalf("verify: %v", err)
			}
			if claims["sub"] != "probe" || claims["aud"] != "chat" || claims["iat"] != float64(1_800_000_000) || claims["exp"] != float64(1_800_000_090) {
				t.Errorf("claims %v", claims)
			}
			// Each probe gets a fresh token.
			tok2, _ := src.Token(now.Add(time.Second))
			if tok2.Value == tok.Value {
				t.Error("same token for two probes")
			}
		})
	}
	src, _ := NewJWTSource(JWTConfig{SecretFile: secretFile})
	if src.TTL() != DefaultJWTTTL {
		t.Errorf("default ttl %v", src.TTL())
	}
}

func TestJWTSourceErrors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("TOPSECRET"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600)
	for _, tc := range []struct {
		cfg  JWTConfig
		want string
	}{
		{JWTConfig{}, "needs a secret file or a key file"},
		{JWTConfig{SecretFile: secret, KeyFile: junk}, "not both"},
		{JWTConfig{SecretFile: empty}, empty + " is empty"},
		{JWTConfig{SecretFile: filepath.Join(dir, "nope")}, "no such file"},
		{JWTConfig{SecretFile: big}, "is larger than 64 KiB"},
		{JWTConfig{KeyFile: junk}, junk + ": no RSA, EC or Ed25519 private key"},
		{JWTConfig{KeyFile: secret}, secret + ": no RSA, EC or Ed25519 private key"},
		{JWTConfig{SecretFile: secret, TTL: -time.Second}, "want a positive duration"},
		{JWTConfig{SecretFile: secret, Claims: map[string]any{"exp": 1}}, `claim "exp" is set by pathlens`},
	} {
		_, err := NewJWTSource(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("error leaks the file: %v", err)
		}
	}
	for _, bad := range []string{"", "[1]", "{} {}", "nope", `"s"`} {
		if _, err := ParseClaims(bad); err == nil {
			t.Errorf("ParseClaims(%q) accepted", bad)
		}
	}
}

// No formatting of a token or a source shows the secret.
func TestSecretsNeverFormat(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("TOPSECRETKEY"), 0o600)
	src, _ := NewJWTSource(JWTConfig{SecretFile: secret})
	tok, _ := src.Token(time.Now())
	static, _ := NewStatic("TOPSECRETTOKEN", "bearer")
	opts := &probe.WSOptions{Token: src}
	for _, v := range []any{src, static, tok, opts, *opts, []any{tok, static}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, "TOPSECRET") || strings.Contains(s, tok.Value) {
				t.Errorf("%s of %T shows the secret: %s", verb, v, s)
			}
		}
	}
	b, _ := json.Marshal(tok)
	if strings.Contains(string(b), tok.Value) || !strings.Contains(string(b), tok.Fingerprint()) {
		t.Errorf("JSON of a token: %s", b)
	}
}

func TestStaticToken(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0)
	jwtTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp.Unix()}).SignedString([]byte("k"))
	s, err := NewStatic(jwtTok, "bearer")
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.Token(time.Now()); !tok.Exp.Equal(exp) || tok.Value != jwtTok {
		t.Errorf("exp of a JWT bearer: %v", tok.Exp)
	}
	if s, _ := NewStatic("opaque", "bearer"); s.exp != (time.Time{}) {
		t.Error("an opaque token has an exp")
	}
	for _, bad := range []string{"", "a b", "a\tb", "a\nb"} {
		if _, err := NewStatic(bad, "bearer"); err == nil {
			t.Errorf("NewStatic(%q) accepted", bad)
		}
	}
	if tok, ok := BearerFromHeader(" bearer  abc "); !ok || tok != "abc" {
		t.Errorf("BearerFromHeader: %q %v", tok, ok)
	}
	if _, ok := BearerFromHeader("Basic abc"); ok {
		t.Error("Basic taken for a bearer token")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	os.WriteFile(f, []byte("\n  tok-123 \n"), 0o600)
	if tok, err := ReadFile(f); err != nil || tok != "tok-123" {
		t.Errorf("ReadFile: %q %v", tok, err)
	}
	if got := probe.Fingerprint("abc"); got != "sha256:ba7816bf" {
		t.Errorf("fingerprint %s", got)
	}
}
