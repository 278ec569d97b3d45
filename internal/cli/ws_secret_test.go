package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
	"github.com/pathlens/pathlens/serve/store"
	"github.com/pathlens/pathlens/serve/web"
)

// tokenServer is a WebSocket server that records every token it is sent
// (Authorization: Bearer, or the query parameter "tok") and, depending on
// the path, echoes it back where a careless client would print it.
type tokenServer struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if q := r.URL.Query().Get("tok"); q != "" {
			tok = q
		}
		ts.mu.Lock()
		ts.tokens = append(ts.tokens, tok)
		ts.mu.Unlock()
		switch r.URL.Path {
		case "/reject-echo": // a hostile 401 that repeats the token
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", token="`+tok+`"`)
			http.Error(w, "bad token "+tok, http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if r.URL.Path == "/close-echo" { // closes with the token as the reason
			c.Close(4401, "expired "+tok)
			return
		}
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, b) != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) seen() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.tokens...)
}

func (ts *tokenServer) url(path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

// writeKeys writes an HS256 secret, an EC and an RSA private key, and
// returns their paths and the secret texts that must never leak (the
// secret, and one base64 line from the middle of each key).
func writeKeys(t *testing.T, dir string) (secretFile, ecFile, rsaFile string, secrets []string) {
	t.Helper()
	secret := "hs256-lab-secret-8d1f0c2b77e94a51"
	secretFile = filepath.Join(dir, "jwt.secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	ecFile, rsaFile = filepath.Join(dir, "ec.pem"), filepath.Join(dir, "rsa.pem")
	os.WriteFile(ecFile, ecPEM, 0o600)
	os.WriteFile(rsaFile, rsaPEM, 0o600)
	secrets = []string{secret}
	for _, p := range [][]byte{ecPEM, rsaPEM} {
		lines := strings.Split(string(p), "\n")
		secrets = append(secrets, lines[len(lines)/2])
	}
	return secretFile, ecFile, rsaFile, secrets
}

// A token passed by any route — --bearer, --bearer @FILE, -H, a JWT
// minted from a secret or a key file, sent as a header or with
// --token-param — never reaches stdout (human or JSON), stderr, the
// SQLite history or the web UI; neither do the secret and the keys. Its
// fingerprint does.
func TestWSSecretsNeverShown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the server's cleanup
	dir := t.TempDir()
	ts := newTokenServer(t)
	secretFile, ecFile, rsaFile, secrets := writeKeys(t, dir)
	const literal = "lit-Tok3n-a9c2e71b55d04f3e"
	const fromFile = "file-Tok3n-6f0e2d9c41b8a7e3"
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(fromFile+"\n"), 0o600)
	secrets = append(secrets, literal, fromFile)

	routes := []struct {
		name   string
		args   []string
		path   string
		minted bool
	}{
		{"bearer", []string{"--bearer", literal, "--send", "x", "--hold", "200ms"}, "/", false},
		{"bearer-file", []string{"--bearer", "@" + tokenFile, "--ping-interval", "50ms", "--hold", "200ms"}, "/", false},
		{"header", []string{"-H", "Authorization: Bearer " + literal}, "/", false},
		{"jwt-secret", []string{"--jwt-secret", secretFile, "--jwt-claims", `{"sub":"probe"}`, "--jwt-ttl", "1m"}, "/", true},
		{"jwt-ec-key", []string{"--jwt-key", ecFile}, "/", true},
		{"jwt-rsa-key-param", []string{"--jwt-key", rsaFile, "--token-param", "tok"}, "/", true},
		{"bearer-param", []string{"--bearer", "@" + tokenFile, "--token-param", "tok"}, "/", false},
		{"reject-echo", []string{"--bearer", literal}, "/reject-echo", false},
		{"reject-echo-param", []string{"--jwt-secret", secretFile, "--token-param", "tok"}, "/reject-echo", true},
		{"close-echo", []string{"--bearer", "@" + tokenFile}, "/close-echo", false},
	}
	var results []*probe.Result
	var outputs []string
	for _, rt := range routes {
		for _, asJSON := range []bool{false, true} {
			args := append([]string{"check", "--timeout", "3s"}, rt.args...)
			if asJSON {
				args = append(args, "--json")
			}
			args = append(args, ts.url(rt.path))
			var out, errb bytes.Buffer
			code := Run(args, &out, &errb)
			if code == ExitUsage {
				t.Fatalf("%s: exit 3: %s", rt.name, errb.String())
			}
			outputs = append(outputs, out.String(), errb.String())
			if !strings.Contains(out.String(), "sha256:") {
				t.Errorf("%s (json %v): no token fingerprint in the output", rt.name, asJSON)
			}
			if asJSON {
				var r probe.Result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					t.Fatalf("%s: %v", rt.name, err)
				}
				if strings.Contains(r.Target, "tok=") {
					t.Errorf("%s: target %q carries the token", rt.name, r.Target)
				}
				results = append(results, &r)
			}
		}
	}
	// Every route delivered a token; collect what was sent.
	seen := ts.seen()
	if len(seen) != 2*len(routes) {
		t.Fatalf("server saw %d upgrades, want %d", len(seen), 2*len(routes))
	}
	for i, tok := range seen {
		if tok == "" {
			t.Errorf("upgrade %d carried no token", i)
		}
	}
	secrets = append(secrets, seen...)

	// The history: write every Result through serve/store and read the
	// database files' bytes.
	dbPath := filepath.Join(dir, "history.db")
	st, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	for i, r := range results {
		recs = append(recs, store.Record{Target: "chat", Module: "default", Result: r})
		_ = i
	}
	ctx := context.Background()
	if err := st.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}

	// The web UI over that history.
	cfg, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf("targets:\n  - {name: chat, url: %q}\n", ts.url("/"))))
	if err != nil {
		t.Fatal(err)
	}
	state := web.NewState()
	for _, r := range results {
		state.Record("chat", "default", r, 0)
	}
	srv := httptest.NewServer(web.New(web.Deps{Config: func() *config.Config { return cfg }, Store: st, State: state,
		Metrics: http.NotFoundHandler(), Version: "test", Logf: func(f string, a ...any) { outputs = append(outputs, fmt.Sprintf(f, a...)) }}))
	pages := []string{"/", "/targets/chat", "/findings", "/api/v1/targets", "/api/v1/targets/chat/results"}
	stored, err := st.Results(ctx, "chat", time.Time{}, 0)
	if err != nil || len(stored) != len(results) {
		t.Fatalf("stored runs: %d, %v; want %d", len(stored), err, len(results))
	}
	for _, sr := range stored { // run ids are the store's, not 1..n
		pages = append(pages, fmt.Sprintf("/runs/%d", sr.ID), fmt.Sprintf("/api/v1/runs/%d", sr.ID))
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, p := range pages {
		resp, err := hc.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", p, resp.Status)
		}
		outputs = append(outputs, string(b))
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		outputs = append(outputs, string(b))
	}
	if !strings.Contains(strings.Join(outputs, ""), "sha256:") {
		t.Error("no fingerprint anywhere: the check is vacuous")
	}

	for _, s := range secrets {
		for i, o := range outputs {
			if strings.Contains(o, s) {
				t.Errorf("secret %.12s… appears in output %d: …%s…", s, i, around(o, s))
			}
		}
	}
}

func around(text, s string) string {
	i := strings.Index(text, s)
	lo, hi := max(0, i-40), min(len(text), i+len(s)+40)
	return strings.ReplaceAll(text[lo:hi], s, "<SECRET>")
}

// Bad WebSocket flags: exit 3, the flag named, nothing on stdout, and no
// secret echoed.
func TestWSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	spaced := filepath.Join(dir, "spaced")
	os.WriteFile(spaced, []byte("two SECRETWORDS"), 0o600)
	junkKey := filepath.Join(dir, "junk.pem")
	os.WriteFile(junkKey, []byte("-----BEGIN PRIVATE KEY-----\nSECRETWORDS\n-----END PRIVATE KEY-----\n"), 0o600)
	const u = "ws://127.0.0.1:1/"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--hold", "-1s", u}, "--hold -1s"},
		{[]string{"--hold", "20s", u}, "--hold 20s is longer than --timeout 10s"},
		{[]string{"--ping-interval", "1ms", u}, "--ping-interval 1ms"},
		{[]string{"--ping-interval", "soon", u}, "--ping-interval soon: want a duration such as 5s or 500ms"},
		{[]string{"--ws-max-message", "0", u}, `--ws-max-message "0": want a size from 1 byte to 1GiB`},
		{[]string{"--ws-max-message", "2GiB", u}, `--ws-max-message "2GiB": want a size from 1 byte to 1GiB`},
		{[]string{"--ws-max-message", "lots", u}, `--ws-max-message "lots"`},
		{[]string{"--ws-max-message", "1MiB", "https://127.0.0.1:1/"}, "--ws-max-message applies to ws:// and wss:// targets only"},
		{[]string{"--jwt-secret", empty, "--jwt-key", junkKey, u}, "--jwt-secret and --jwt-key exclude each other"},
		{[]string{"--bearer", "x", "--jwt-secret", empty, u}, "--bearer and --jwt-secret/--jwt-key exclude each other"},
		{[]string{"--jwt-claims", `{"a":1}`, u}, "--jwt-claims needs --jwt-secret or --jwt-key"},
		{[]string{"--jwt-ttl", "1m", u}, "--jwt-ttl needs --jwt-secret or --jwt-key"},
		{[]string{"--jwt-secret", empty, u}, "--jwt-secret: " + empty + " is empty"},
		{[]string{"--jwt-secret", filepath.Join(dir, "nope"), u}, "--jwt-secret: " + filepath.Join(dir, "nope") + ": no such file"},
		{[]string{"--jwt-key", junkKey, u}, "--jwt-key: " + junkKey + ": no RSA, EC or Ed25519 private key"},
		{[]string{"--jwt-secret", spaced, "--jwt-claims", "[SECRETWORDS]", u}, "--jwt-claims: want a JSON object"},
		{[]string{"--jwt-secret", spaced, "--jwt-claims", `{"exp":1}`, u}, `--jwt-claims: claim "exp" is set by pathlens`},
		{[]string{"--jwt-secret", spaced, "--jwt-ttl", "-1m", u}, "--jwt-ttl -1m0s: want a positive duration"},
		{[]string{"--bearer", "@" + empty, u}, "--bearer @FILE: " + empty + " is empty"},
		{[]string{"--bearer", "@" + spaced, u}, "--bearer @FILE: " + spaced + " must hold the token alone"},
		{[]string{"--bearer", "two SECRETWORDS", u}, "--bearer: the token holds a space"},
		{[]string{"--bearer", "x", "-H", "Authorization: Bearer SECRETWORDS", u}, "--bearer and -H 'Authorization: …' exclude each other"},
		{[]string{"--token-param", "tok", u}, "--token-param needs a token"},
		{[]string{"--bearer", "x", "--token-param", "a&b", u}, `--token-param "a&b": want a query parameter name`},
		{[]string{"--send", "hi", "https://127.0.0.1:1/"}, "--send applies to ws:// and wss:// targets only (the target is https://)"},
		{[]string{"--bearer", "SECRETWORDS", "tcp://127.0.0.1:1"}, "--bearer applies to ws:// and wss:// targets only"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(append([]string{"check"}, c.args...), &out, &errb)
			if code != ExitUsage || !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want 3 and %q", code, errb.String(), out.String(), c.want)
			}
			if strings.Contains(errb.String(), "SECRETWORDS") {
				t.Errorf("stderr echoes a secret: %q", errb.String())
			}
		})
	}
}
