package cli

import (
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/token"
	"github.com/spf13/pflag"
)

// wsFlags are the WebSocket flags of `check` (docs/cli.md). Secrets given
// here (the token, the key files' content) never appear in a message:
// errors name the flag and the file, not what is in it.
type wsFlags struct {
	send         string
	pingInterval time.Duration
	hold         time.Duration
	bearer       string
	jwtSecret    string
	jwtKey       string
	jwtClaims    string
	jwtTTL       time.Duration
	tokenParam   string
	maxMessage   string
}

func (w *wsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&w.send, "send", "", "text message `TEXT` to send after the upgrade")
	fs.DurationVar(&w.pingInterval, "ping-interval", 0, "ping every `D`, time each pong (>= 10ms; 0: none)")
	fs.DurationVar(&w.hold, "hold", 0, "keep the session open `D` (within --timeout)")
	fs.StringVar(&w.bearer, "bearer", "", "send Authorization: Bearer `TOKEN` (or @FILE)")
	fs.StringVar(&w.jwtSecret, "jwt-secret", "", "mint a JWT per probe, HS256 keyed by `FILE`")
	fs.StringVar(&w.jwtKey, "jwt-key", "", "mint a JWT per probe, signed by PEM key `FILE`")
	fs.StringVar(&w.jwtClaims, "jwt-claims", "", "the minted JWT's claims, a `JSON` object")
	fs.DurationVar(&w.jwtTTL, "jwt-ttl", 0, "the minted JWT's lifetime `D` (default 1h)")
	fs.StringVar(&w.tokenParam, "token-param", "", "send the token as query parameter `NAME`")
	fs.StringVar(&w.maxMessage, "ws-max-message", "", "largest message `SIZE` accepted (default 1MiB)")
}

// given lists the WebSocket flags that were set, as the user names them.
func (w *wsFlags) given() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(w.send != "", "--send")
	add(w.pingInterval != 0, "--ping-interval")
	add(w.hold != 0, "--hold")
	add(w.bearer != "", "--bearer")
	add(w.jwtSecret != "", "--jwt-secret")
	add(w.jwtKey != "", "--jwt-key")
	add(w.jwtClaims != "", "--jwt-claims")
	add(w.jwtTTL != 0, "--jwt-ttl")
	add(w.tokenParam != "", "--token-param")
	add(w.maxMessage != "", "--ws-max-message")
	return out
}

// checkKind refuses WebSocket flags on a target (of URL scheme kind)
// whose kind does not read the ws section (probe.Kind.Sections).
func (w *wsFlags) checkKind(kind string) error {
	if reads(kind, "ws") {
		return nil
	}
	if g := w.given(); len(g) > 0 {
		return usagef("check: %s applies to %s targets only (the target is %s://)", g[0], sectionTargets("ws"), kind)
	}
	return nil
}

// apply reads the WebSocket flags into o.WS (left nil when none is
// set). It runs after --timeout and -H are in o. validate applies probe's
// rules to the values (see checkFlags.validate) before any token file is
// read; apply itself checks only the text of the flags and how they
// combine.
func (w *wsFlags) apply(o *probe.Options, validate func(*probe.Options) error) error {
	if len(w.given()) == 0 {
		return nil
	}
	wo := &probe.WSOptions{Send: w.send, PingInterval: w.pingInterval, Hold: w.hold, TokenParam: w.tokenParam, TokenTTL: w.jwtTTL}
	if w.maxMessage != "" {
		n, err := optparse.ParseSize(w.maxMessage)
		if err != nil {
			return usagef("check: --ws-max-message %q: want a size from 1 byte to 1GiB (e.g. 64KiB, 16MiB)", w.maxMessage)
		}
		wo.MaxMessage = n
	}
	early := *o
	early.WS = wo
	if err := validate(&early); err != nil {
		return err
	}
	switch {
	case w.hold > o.Timeout:
		return usagef("check: --hold %s is longer than --timeout %s: the budget bounds the whole session (raise --timeout)", w.hold, o.Timeout)
	case w.jwtSecret != "" && w.jwtKey != "":
		return usagef("check: --jwt-secret and --jwt-key exclude each other")
	case w.bearer != "" && (w.jwtSecret != "" || w.jwtKey != ""):
		return usagef("check: --bearer and --jwt-secret/--jwt-key exclude each other")
	case w.jwtClaims != "" && w.jwtSecret == "" && w.jwtKey == "":
		return usagef("check: --jwt-claims needs --jwt-secret or --jwt-key")
	case w.jwtTTL != 0 && w.jwtSecret == "" && w.jwtKey == "":
		return usagef("check: --jwt-ttl needs --jwt-secret or --jwt-key")
	}
	hasAuthHeader := o.Header != nil && o.Header.Get("Authorization") != ""
	if w.bearer != "" {
		if hasAuthHeader {
			return usagef("check: --bearer and -H 'Authorization: …' exclude each other")
		}
		v, kind := w.bearer, "bearer"
		if strings.HasPrefix(v, "@") {
			tok, err := token.ReadFile(v[1:])
			if err != nil {
				return usagef("check: --bearer @FILE: %v", err)
			}
			v, kind = tok, "bearer-file"
		}
		src, err := token.NewStatic(v, kind)
		if err != nil {
			return usagef("check: --bearer: %v", err)
		}
		wo.Token = src
	}
	if w.jwtSecret != "" || w.jwtKey != "" {
		if hasAuthHeader {
			return usagef("check: --jwt-secret/--jwt-key and -H 'Authorization: …' exclude each other")
		}
		var claims map[string]any
		if w.jwtClaims != "" {
			c, err := token.ParseClaims(w.jwtClaims)
			if err != nil {
				return usagef("check: --jwt-claims: %v", err)
			}
			claims = c
		}
		src, err := token.NewJWTSource(token.JWTConfig{SecretFile: w.jwtSecret, KeyFile: w.jwtKey, Claims: claims, TTL: w.jwtTTL})
		if err != nil {
			flag := "--jwt-secret"
			if w.jwtKey != "" {
				flag = "--jwt-key"
			}
			if strings.HasPrefix(err.Error(), "claim ") {
				flag = "--jwt-claims"
			}
			return usagef("check: %s: %v", flag, err)
		}
		wo.Token = src
	}
	if w.tokenParam != "" && wo.Token == nil {
		return usagef("check: --token-param needs a token (--bearer, --jwt-secret or --jwt-key)")
	}
	o.WS = wo
	return nil
}
