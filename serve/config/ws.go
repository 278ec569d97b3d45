package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/token"
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

// wsModule reads the ws section r of the module m at path into m.WS and
// loads its token. The values' rules are probe's: they are checked
// (checkOptions) before any token file is read.
func (d *decoder) wsModule(path string, r *rawWS, m *Module) {
	ws, wp := &m.WS, join(path, "ws")
	r.Send.set(&ws.Send)
	r.PingInterval.set(&ws.PingInterval)
	r.Hold.set(&ws.Hold)
	r.MaxMessage.set(&ws.MaxMessage)
	tokenParamNode := r.TokenParam.set(&ws.TokenParam)
	r.JWT.TTL.set(&ws.JWT.TTL)
	d.checkOptions(path, "ws", &probe.Options{Timeout: m.Timeout, WS: &probe.WSOptions{PingInterval: ws.PingInterval, Hold: ws.Hold,
		MaxMessage: ws.MaxMessage, TokenParam: ws.TokenParam, TokenTTL: ws.JWT.TTL}})

	bearerNode := r.BearerFile.set(&ws.BearerFile)
	if ws.BearerFile != "" {
		ws.BearerFile = d.abs(ws.BearerFile)
		tok, err := token.ReadFile(ws.BearerFile)
		if err != nil {
			d.failf(bearerNode, join(wp, "bearer_file"), "%v", err)
		}
		src, err := token.NewStatic(tok, "bearer-file")
		if err != nil {
			d.failf(bearerNode, join(wp, "bearer_file"), "%s: %v", ws.BearerFile, err)
		}
		ws.token = src
	}
	d.wsJWT(wp, &r.JWT, ws, bearerNode)
	if ws.TokenParam != "" && ws.token == nil {
		d.failf(tokenParamNode, join(wp, "token_param"), "token_param needs a token (bearer_file or jwt)")
	}
}

// wsJWT reads the jwt mapping r of the ws section at wp into ws.JWT and,
// when it names a secret or a key, makes the token source; bearer is the
// node of the section's bearer_file, which excludes it.
func (d *decoder) wsJWT(wp string, r *rawJWT, ws *WSModule, bearer *yaml.Node) {
	path := join(wp, "jwt")
	secretNode := r.SecretFile.set(&ws.JWT.SecretFile)
	keyNode := r.KeyFile.set(&ws.JWT.KeyFile)
	claimsNode := present(&r.Claims)
	if claimsNode != nil {
		switch claimsNode.Kind {
		case yaml.MappingNode:
			if err := claimsNode.Decode(&ws.JWT.Claims); err != nil {
				d.failf(claimsNode, join(path, "claims"), "want a mapping of claims: %v", err)
			}
		case yaml.ScalarNode:
			c, err := token.ParseClaims(claimsNode.Value)
			if err != nil {
				d.failf(claimsNode, join(path, "claims"), "%v", err)
			}
			ws.JWT.Claims = c
		default:
			d.failf(claimsNode, join(path, "claims"), "want a mapping (or a JSON object), got %s", describe(claimsNode))
		}
	}
	minting := ws.JWT.SecretFile != "" || ws.JWT.KeyFile != ""
	switch {
	case ws.JWT.SecretFile != "" && ws.JWT.KeyFile != "":
		d.failf(keyNode, join(path, "key_file"), "secret_file and key_file exclude each other")
	case !minting && (claimsNode != nil || r.TTL.N != nil):
		d.failf(d.at(path), path, "claims and ttl need secret_file or key_file")
	case !minting:
		return
	case ws.BearerFile != "":
		d.failf(bearer, join(wp, "bearer_file"), "bearer_file and jwt exclude each other")
	}
	at, field := secretNode, join(path, "secret_file")
	if ws.JWT.SecretFile == "" {
		at, field = keyNode, join(path, "key_file")
	}
	for _, f := range []*string{&ws.JWT.SecretFile, &ws.JWT.KeyFile} {
		if *f != "" {
			*f = d.abs(*f)
		}
	}
	src, err := token.NewJWTSource(token.JWTConfig{SecretFile: ws.JWT.SecretFile, KeyFile: ws.JWT.KeyFile, Claims: ws.JWT.Claims, TTL: ws.JWT.TTL})
	if err != nil {
		if strings.HasPrefix(err.Error(), "claim ") {
			at, field = claimsNode, join(path, "claims")
		}
		d.failf(at, field, "%v", err)
	}
	ws.token = src
	ws.JWT.TTL = src.TTL()
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
