package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/token"
)

// Keys of a module's ws: section and of its jwt: mapping.
var (
	wsKeys    = []string{"send", "ping_interval", "hold", "bearer_file", "token_param", "jwt", "max_message"}
	wsJWTKeys = []string{"secret_file", "key_file", "claims", "ttl"}
)

// WSModule configures ws modules (ws:// and wss:// targets), as the
// WebSocket flags of `check` do. A ws target holds its session for Hold,
// up to its interval: its probe budget is its timeout plus Hold, capped at
// the interval. Secrets are read at load; only file names are kept here
// for people, and the token source never formats its secret.
type WSModule struct {
	Send         string
	PingInterval time.Duration
	Hold         time.Duration
	// BearerFile holds a fixed bearer token; JWT mints one per probe.
	BearerFile string
	JWT        WSJWT
	// TokenParam sends the token as this query parameter instead of the
	// Authorization header.
	TokenParam string
	// MaxMessage is the largest message accepted (0: probe.DefaultWSMaxMessage).
	MaxMessage int64

	token probe.TokenSource
}

// WSJWT configures a JWT minted for every probe: HS256 with the content
// of SecretFile, or signed with the PEM private key in KeyFile. Claims are
// merged in; exp is the probe's start plus TTL (default 1h).
type WSJWT struct {
	SecretFile string
	KeyFile    string
	Claims     map[string]any
	TTL        time.Duration
}

// wsModule reads a module's ws: section into m.WS and loads its token.
// The values' rules are probe's: they are checked (checkOptions) before
// any token file is read.
// It stays one function: the value check must come before any token file is read, and the bearer/jwt checks share their nodes.
func (d *decoder) wsModule(mm *mapping, m *Module) {
	w := d.mapping(mm.keyNode("ws"), mm.get("ws"), mm.field("ws"), wsKeys)
	ws := &m.WS
	w.str("send", &ws.Send)
	w.dur("ping_interval", &ws.PingInterval)
	w.dur("hold", &ws.Hold)
	w.size("max_message", &ws.MaxMessage)
	tokenParamNode := w.str("token_param", &ws.TokenParam)
	j := d.mapping(w.keyNode("jwt"), w.get("jwt"), w.field("jwt"), wsJWTKeys)
	ttlNode := j.dur("ttl", &ws.JWT.TTL)
	d.checkOptions(mm, "ws", &probe.Options{Timeout: m.Timeout, WS: &probe.WSOptions{PingInterval: ws.PingInterval, Hold: ws.Hold,
		MaxMessage: ws.MaxMessage, TokenParam: ws.TokenParam, TokenTTL: ws.JWT.TTL}})

	bearerNode := w.str("bearer_file", &ws.BearerFile)
	if ws.BearerFile != "" {
		ws.BearerFile = d.abs(ws.BearerFile)
		tok, err := token.ReadFile(ws.BearerFile)
		if err != nil {
			d.failf(bearerNode, w.field("bearer_file"), "%v", err)
		}
		src, err := token.NewStatic(tok, "bearer-file")
		if err != nil {
			d.failf(bearerNode, w.field("bearer_file"), "%s: %v", ws.BearerFile, err)
		}
		ws.token = src
	}

	secretNode := j.str("secret_file", &ws.JWT.SecretFile)
	keyNode := j.str("key_file", &ws.JWT.KeyFile)
	claimsNode := j.get("claims")
	if claimsNode != nil {
		switch claimsNode.Kind {
		case yaml.MappingNode:
			if err := claimsNode.Decode(&ws.JWT.Claims); err != nil {
				d.failf(claimsNode, j.field("claims"), "want a mapping of claims: %v", err)
			}
		case yaml.ScalarNode:
			c, err := token.ParseClaims(claimsNode.Value)
			if err != nil {
				d.failf(claimsNode, j.field("claims"), "%v", err)
			}
			ws.JWT.Claims = c
		default:
			d.failf(claimsNode, j.field("claims"), "want a mapping (or a JSON object), got %s", describe(claimsNode))
		}
	}
	minting := ws.JWT.SecretFile != "" || ws.JWT.KeyFile != ""
	switch {
	case ws.JWT.SecretFile != "" && ws.JWT.KeyFile != "":
		d.failf(keyNode, j.field("key_file"), "secret_file and key_file exclude each other")
	case !minting && (claimsNode != nil || ttlNode != nil):
		at := j.at
		d.failf(at, w.field("jwt"), "claims and ttl need secret_file or key_file")
	case minting && ws.BearerFile != "":
		d.failf(bearerNode, w.field("bearer_file"), "bearer_file and jwt exclude each other")
	}
	if minting {
		at, field := secretNode, j.field("secret_file")
		if ws.JWT.SecretFile == "" {
			at, field = keyNode, j.field("key_file")
		}
		for _, f := range []*string{&ws.JWT.SecretFile, &ws.JWT.KeyFile} {
			if *f != "" {
				*f = d.abs(*f)
			}
		}
		src, err := token.NewJWTSource(token.JWTConfig{SecretFile: ws.JWT.SecretFile, KeyFile: ws.JWT.KeyFile, Claims: ws.JWT.Claims, TTL: ws.JWT.TTL})
		if err != nil {
			if strings.HasPrefix(err.Error(), "claim ") {
				at, field = claimsNode, j.field("claims")
			}
			d.failf(at, field, "%v", err)
		}
		ws.token = src
		ws.JWT.TTL = src.TTL()
	}

	if ws.TokenParam != "" && ws.token == nil {
		d.failf(tokenParamNode, w.field("token_param"), "token_param needs a token (bearer_file or jwt)")
	}
}

// wsOptions is the module's WebSocket options (nil when it sets none).
func (w *WSModule) wsOptions() *probe.WSOptions {
	if w.Send == "" && w.PingInterval == 0 && w.Hold == 0 && w.token == nil && w.MaxMessage == 0 {
		return nil
	}
	return &probe.WSOptions{Send: w.Send, PingInterval: w.PingInterval, Hold: w.Hold, Token: w.token, TokenParam: w.TokenParam,
		MaxMessage: w.MaxMessage, TokenTTL: w.JWT.TTL}
}

// wsBudget is the probe budget of a ws target: its timeout plus the hold,
// capped at its interval (a session holds for up to its interval).
func wsBudget(timeout, hold, interval time.Duration) time.Duration {
	b := timeout + hold
	if interval > 0 && b > interval {
		b = interval
	}
	return b
}
