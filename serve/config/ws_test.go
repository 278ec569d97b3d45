package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

func TestWSModule(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bearer"), []byte("opaque-bearer-XYZ\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("hs256-secret-XYZ"), 0o600)
	text := `
modules:
  chat:
    kind: ws
    timeout: 10s
    ws:
      send: hello
      ping_interval: 5s
      hold: 20s
      jwt:
        secret_file: secret
        claims: {sub: probe, aud: chat}
        ttl: 15m
      token_param: access_token
  plain:
    kind: ws
    ws: {bearer_file: bearer}
targets:
  - {name: a, url: "wss://chat.example.com/socket", module: chat, interval: 25s}
  - {name: b, url: "wss://chat.example.com/socket", module: chat, interval: 1m}
  - {name: c, url: "ws://127.0.0.1:8080/", module: plain, interval: 30s}
  - {name: d, url: "ws://127.0.0.1:8080/"}
`
	c, err := Parse(filepath.Join(dir, "p.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modules["chat"].WS
	if m.Send != "hello" || m.PingInterval != 5*time.Second || m.Hold != 20*time.Second || m.TokenParam != "access_token" ||
		m.JWT.SecretFile != filepath.Join(dir, "secret") || m.JWT.TTL != 15*time.Minute || m.JWT.Claims["aud"] != "chat" {
		t.Errorf("ws module = %+v", m)
	}
	a, _ := c.Target("a")
	if a.Timeout != 10*time.Second || a.Options.Timeout != 25*time.Second {
		t.Errorf("a: timeout %v, budget %v; want 10s and the interval (25s)", a.Timeout, a.Options.Timeout)
	}
	b, _ := c.Target("b")
	if b.Options.Timeout != 30*time.Second {
		t.Errorf("b: budget %v, want timeout + hold (30s)", b.Options.Timeout)
	}
	w := a.Options.WS
	if w == nil || w.Token == nil || w.Token.Kind() != "jwt-hs256" || w.TokenParam != "access_token" || w.Hold != 20*time.Second {
		t.Fatalf("a: ws options %+v", w)
	}
	if a.Options.WS == b.Options.WS {
		t.Error("targets share one WSOptions")
	}
	tok, err := w.Token.Token(time.Unix(1000, 0))
	if err != nil || tok.Exp != time.Unix(1000+900, 0).UTC() {
		t.Errorf("minted token exp %v, %v", tok.Exp, err)
	}
	cc, _ := c.Target("c")
	if cc.Options.WS == nil || cc.Options.WS.Token == nil || cc.Options.WS.Token.Kind() != "bearer-file" || cc.Options.Timeout != 10*time.Second {
		t.Errorf("c: %+v", cc.Options.WS)
	}
	if d, _ := c.Target("d"); d.Options.WS != nil {
		t.Errorf("d: default module has ws options %+v", d.Options.WS)
	}

	// /probe: the hold adds to the module's timeout, cut to the scrape's.
	o, err := c.ModuleOptions("chat", 0)
	if err != nil || o.Timeout != 30*time.Second {
		t.Errorf("ModuleOptions: %v %v", o.Timeout, err)
	}
	if o, _ := c.ModuleOptions("chat", 5*time.Second); o.Timeout != 5*time.Second {
		t.Errorf("ModuleOptions with a scrape budget: %v", o.Timeout)
	}
}

// Secrets in files never appear in a config error.
func TestWSModuleErrorsHideSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bearer"), []byte("two words-SECRETVALUE"), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nSECRETVALUE\n-----END PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok-SECRETVALUE\n"), 0o600)
	for name, tc := range map[string]struct{ yaml, want string }{
		"bearer with a space": {"ws: {bearer_file: bearer}", "modules.m.ws.bearer_file: " + filepath.Join(dir, "bearer") + " must hold the token alone"},
		"not a key":           {"ws: {jwt: {key_file: key.pem}}", "modules.m.ws.jwt.key_file: " + filepath.Join(dir, "key.pem") + ": no RSA, EC or Ed25519 private key"},
		"empty secret":        {"ws: {jwt: {secret_file: empty}}", "modules.m.ws.jwt.secret_file: " + filepath.Join(dir, "empty") + " is empty"},
		"missing secret":      {"ws: {jwt: {secret_file: nope}}", "modules.m.ws.jwt.secret_file: " + filepath.Join(dir, "nope") + ": no such file"},
		"exp in claims":       {"ws: {jwt: {secret_file: bearer, claims: {exp: 1}}}", "modules.m.ws.jwt.claims: claim \"exp\" is set by pathlens"},
		"claims not json":     {"ws: {jwt: {secret_file: bearer, claims: 'nope'}}", "modules.m.ws.jwt.claims: want a JSON object"},
		"ttl alone":           {"ws: {jwt: {ttl: 1m}}", "modules.m.ws.jwt: claims and ttl need secret_file or key_file"},
		"bearer and jwt":      {"ws: {bearer_file: token, jwt: {secret_file: bearer}}", "modules.m.ws.bearer_file: bearer_file and jwt exclude each other"},
		"short ping":          {"ws: {ping_interval: 1ms}", "modules.m.ws.ping_interval: want 10ms or more"},
		"negative hold":       {"ws: {hold: -1s}", "modules.m.ws.hold: want 0 or a positive duration"},
		"bad param":           {"ws: {token_param: 'a&b', jwt: {secret_file: bearer}}", "modules.m.ws.token_param"},
		"unknown key":         {"ws: {holdd: 1s}", `modules.m.ws.holdd: unknown field "holdd" (allowed: send, ping_interval, hold, bearer_file, token_param, jwt, max_message)`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "p.yaml"), []byte("modules:\n  m:\n    kind: ws\n    "+tc.yaml+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error leaks the file's content: %v", err)
			}
		})
	}
}

// ws.max_message reaches the probe options; out-of-range sizes are refused.
func TestWSMaxMessage(t *testing.T) {
	c, err := Parse("m.yaml", []byte(`
modules:
  big: {kind: ws, ws: {max_message: 16MiB}}
targets:
  - {name: a, url: "wss://chat.example.com/", module: big}
  - {name: b, url: "wss://chat.example.com/"}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Target("a")
	if a.Options.WS == nil || a.Options.WS.MaxMessage != 16<<20 {
		t.Errorf("a: ws options %+v", a.Options.WS)
	}
	b, _ := c.Target("b")
	if got := b.Options.WS.EffectiveMaxMessage(); got != probe.DefaultWSMaxMessage {
		t.Errorf("b: max message %d, want the default", got)
	}
	for v, want := range map[string]string{
		"0":    `m.yaml:1: modules.m.ws.max_message: bad size "0" (want e.g. 1000, 512KiB or 10MiB)`,
		"2GiB": "m.yaml:1: modules.m.ws.max_message: want a size from 1 byte to 1GiB, got 2GiB",
	} {
		_, err := Parse("m.yaml", []byte("modules: {m: {kind: ws, ws: {max_message: "+v+"}}}"))
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", v, err, want)
		}
	}
}
