// Package token supplies the bearer tokens of WebSocket probes: a fixed
// token (Static, read from a file with ReadFile) or a JWT minted for
// every probe with golang-jwt/jwt/v5 (JWTSource). Both implement
// probe.TokenSource. Neither ever formats its secret: String and Format
// print the kind and a fingerprint (probe.Fingerprint), and every error
// names the file, never its content.
package token

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pathlens/pathlens/probe"
)

// DefaultJWTTTL is the lifetime of a minted JWT when none is given.
const DefaultJWTTTL = time.Hour

// maxSecretFile bounds a token, secret or key file.
const maxSecretFile = 64 << 10

// Static is a fixed bearer token (--bearer, --bearer @FILE,
// bearer_file). When the token is a JWT its exp claim is read (not
// verified) so that WS_TOKEN_EXPIRED can compare the close with it.
type Static struct {
	value string
	kind  string
	exp   time.Time
}

// NewStatic wraps a fixed token; kind names its route ("bearer",
// "header"). An empty token or one holding spaces or control characters
// is refused (the error never quotes it).
func NewStatic(value, kind string) (*Static, error) {
	if value == "" {
		return nil, errors.New("the token is empty")
	}
	if strings.ContainsFunc(value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, errors.New("the token holds a space or control character")
	}
	return &Static{value: value, kind: kind, exp: UnverifiedExp(value)}, nil
}

// Token returns the fixed token.
func (s *Static) Token(time.Time) (probe.Token, error) {
	return probe.Token{Value: s.value, Exp: s.exp}, nil
}

// Kind is the route the token came by.
func (s *Static) Kind() string { return s.kind }

// String shows the kind and fingerprint, never the token.
func (s *Static) String() string { return s.kind + " token " + probe.Fingerprint(s.value) }

// Format prints String for every verb.
func (s *Static) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// ReadFile reads a token file: the token alone, surrounding space and
// newlines trimmed. Errors name the file, never its content.
func ReadFile(path string) (string, error) {
	b, err := readSecretFile(path)
	if err != nil {
		return "", err
	}
	return FromFile(path, b)
}

// FromFile checks the content b of the token file path: the token alone
// on one line, surrounding space and newlines trimmed. Errors name the
// file, never its content. serve's auth token file follows the same rule.
func FromFile(path string, b []byte) (string, error) {
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s must hold the token alone on one line (no spaces)", path)
	}
	return tok, nil
}

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: cannot read", path)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read", path)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, maxSecretFile>>10)
	}
	return b, nil
}

// UnverifiedExp reads the exp claim of a JWT without verifying it; zero
// when tok is not a JWT or has no exp.
func UnverifiedExp(tok string) time.Time {
	if strings.Count(tok, ".") != 2 {
		return time.Time{}
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		return time.Time{}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}
	}
	return exp.UTC()
}

// BearerFromHeader returns the token of an "Authorization: Bearer …"
// header (sent with -H), so that its fingerprint and expiry can be shown.
func BearerFromHeader(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// JWTConfig describes a JWT to mint for every probe: signed HS256 with
// the content of SecretFile, or with the private key in KeyFile (PEM: RSA
// → RS256, EC P-256/P-384/P-521 → ES256/ES384/ES512, Ed25519 → EdDSA).
// Claims are merged into the token; iat and exp (iat + TTL) are set by
// pathlens.
type JWTConfig struct {
	SecretFile string
	KeyFile    string
	Claims     map[string]any
	TTL        time.Duration
}

// JWTSource mints a JWT for each probe. It holds the key in memory and
// never formats it.
type JWTSource struct {
	method jwt.SigningMethod
	key    any
	claims map[string]any
	ttl    time.Duration
	file   string
}

// NewJWTSource loads the secret or key of c. Errors name the file and what
// is wrong with it, never its content.
func NewJWTSource(c JWTConfig) (*JWTSource, error) {
	switch {
	case c.SecretFile != "" && c.KeyFile != "":
		return nil, errors.New("a JWT is signed with a secret or with a key, not both")
	case c.SecretFile == "" && c.KeyFile == "":
		return nil, errors.New("a JWT needs a secret file or a key file")
	case c.TTL < 0:
		return nil, fmt.Errorf("ttl %s: want a positive duration", c.TTL)
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultJWTTTL
	}
	for _, k := range []string{"iat", "exp"} {
		if _, ok := c.Claims[k]; ok {
			return nil, fmt.Errorf("claim %q is set by pathlens (exp from the ttl); leave it out of the claims", k)
		}
	}
	s := &JWTSource{claims: maps.Clone(c.Claims), ttl: ttl}
	if c.SecretFile != "" {
		b, err := readSecretFile(c.SecretFile)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, fmt.Errorf("%s is empty", c.SecretFile)
		}
		s.method, s.key, s.file = jwt.SigningMethodHS256, b, c.SecretFile
		return s, nil
	}
	b, err := readSecretFile(c.KeyFile)
	if err != nil {
		return nil, err
	}
	s.file = c.KeyFile
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(b); err == nil {
		s.method, s.key = jwt.SigningMethodRS256, k
		return s, nil
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(b); err == nil {
		switch k.Curve {
		case elliptic.P256():
			s.method = jwt.SigningMethodES256
		case elliptic.P384():
			s.method = jwt.SigningMethodES384
		case elliptic.P521():
			s.method = jwt.SigningMethodES512
		default:
			return nil, fmt.Errorf("%s: unsupported EC curve (want P-256, P-384 or P-521)", c.KeyFile)
		}
		s.key = k
		return s, nil
	}
	if k, err := jwt.ParseEdPrivateKeyFromPEM(b); err == nil {
		s.method, s.key = jwt.SigningMethodEdDSA, k
		return s, nil
	}
	return nil, fmt.Errorf("%s: no RSA, EC or Ed25519 private key in PEM form (PKCS#1, PKCS#8 or SEC 1)", c.KeyFile)
}

// Token mints a token issued at now and expiring TTL later (whole seconds,
// as JWT NumericDate has it).
func (s *JWTSource) Token(now time.Time) (probe.Token, error) {
	claims := jwt.MapClaims{}
	maps.Copy(claims, s.claims)
	iat := now.Unix()
	exp := now.Add(s.ttl).Unix()
	claims["iat"] = iat
	claims["exp"] = exp
	tok, err := jwt.NewWithClaims(s.method, claims).SignedString(s.key)
	if err != nil {
		return probe.Token{}, fmt.Errorf("signing the JWT with %s failed", s.file)
	}
	return probe.Token{Value: tok, Exp: time.Unix(exp, 0).UTC()}, nil
}

// Kind is "jwt-" and the algorithm in lower case ("jwt-hs256").
func (s *JWTSource) Kind() string { return "jwt-" + strings.ToLower(s.method.Alg()) }

// Alg is the signing algorithm (HS256, RS256, ES256, …).
func (s *JWTSource) Alg() string { return s.method.Alg() }

// TTL is the lifetime of each minted token.
func (s *JWTSource) TTL() time.Duration { return s.ttl }

// String names the algorithm and key file, never the key.
func (s *JWTSource) String() string { return "JWT " + s.method.Alg() + " signed with " + s.file }

// Format prints String for every verb.
func (s *JWTSource) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// ParseClaims parses a JSON object of extra claims (--jwt-claims). The
// error says what is wrong without quoting the text.
func ParseClaims(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errors.New("want a JSON object such as {\"sub\":\"probe\",\"aud\":\"chat\"}")
	}
	if dec.More() {
		return nil, errors.New("want one JSON object")
	}
	return m, nil
}
