package probe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// WebSocket probes (ws://, wss://): the options they take and the ws block
// of the Result (docs/result.md).

// Bounds of a WebSocket probe.
const (
	// DefaultWSMaxMessage is the largest message read (SetReadLimit); a
	// bigger one ends the session with close code 1009.
	DefaultWSMaxMessage = 1 << 20
	// MaxWSMaxMessage bounds MaxMessage. Messages
	// are counted and discarded as they stream in, so the limit costs no
	// memory; it only decides when the session is closed with 1009.
	MaxWSMaxMessage = 1 << 30
	// MaxWSMessagesRecorded and MaxWSPingsRecorded bound the lists in the
	// ws block; further messages are only counted, further pings not sent.
	MaxWSMessagesRecorded = 1000
	MaxWSPingsRecorded    = 1000
	// MinWSPingInterval is the shortest PingInterval accepted.
	MinWSPingInterval = 10 * time.Millisecond
)

// WSOptions configure ws and wss probes. The zero value upgrades, sends
// nothing, does not ping and closes at once.
type WSOptions struct {
	// Send is a text message sent once the upgrade completes; the wait
	// phase runs from it to the first message back. "" sends nothing.
	Send string
	// PingInterval is the time between pings (0: no pings); each ping
	// that gets no pong within it is a WS_PING_TIMEOUT.
	PingInterval time.Duration
	// Hold keeps the session open this long after the upgrade, bounded by
	// the probe's budget.
	Hold time.Duration
	// Token supplies the bearer token (nil: none). It is sent as
	// "Authorization: Bearer …", or as the query parameter TokenParam.
	Token      TokenSource
	TokenParam string
	// MaxMessage is the read limit per message (0: DefaultWSMaxMessage).
	MaxMessage int64
	// TokenTTL is the lifetime a front end gave Token's minted tokens
	// (0: the token source's default). The token source applies it; it is
	// here so that Validate checks it with the other settings.
	TokenTTL time.Duration
}

// EffectiveMaxMessage is MaxMessage or its default.
func (w *WSOptions) EffectiveMaxMessage() int64 {
	if w == nil || w.MaxMessage <= 0 {
		return DefaultWSMaxMessage
	}
	return w.MaxMessage
}

// TokenSource supplies the bearer token of one probe: a fixed token or one
// minted per probe (a JWT signed with a secret or a private key).
// Implementations are safe for concurrent use and never print the token
// or the key.
type TokenSource interface {
	// Token returns the token to send on a probe that starts at now.
	Token(now time.Time) (Token, error)
	// Kind names the source for people and the Result, never the secret:
	// "bearer", "header", "jwt-hs256", "jwt-rs256", "jwt-es256", ….
	Kind() string
}

// Token is a bearer token and what may be shown of it. Value is secret:
// every formatting of a Token (fmt verbs, JSON) shows only Fingerprint.
type Token struct {
	Value string
	// Exp is the token's expiry (the JWT exp claim); zero when unknown.
	Exp time.Time
}

// Fingerprint is "sha256:" and the first 8 hex digits of the token's
// SHA-256: enough to tell tokens apart, useless to replay.
func (t Token) Fingerprint() string { return Fingerprint(t.Value) }

// String shows the fingerprint, never the token.
func (t Token) String() string { return "token " + t.Fingerprint() }

// Format shows the fingerprint for every verb (%v, %+v, %#v, %s, %q).
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// MarshalJSON encodes the fingerprint and expiry, never the token.
func (t Token) MarshalJSON() ([]byte, error) {
	v := struct {
		Fingerprint string     `json:"fingerprint"`
		Exp         *time.Time `json:"exp,omitempty"`
	}{Fingerprint: t.Fingerprint()}
	if !t.Exp.IsZero() {
		e := t.Exp.UTC()
		v.Exp = &e
	}
	return json.Marshal(v)
}

// Fingerprint is "sha256:" and the first 8 hex digits of SHA-256(secret).
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:4])
}

// WSInfo is the ws block of a ws or wss probe. The first three fields are
// the contract's; the rest are additions (docs/result.md). Message
// contents are never recorded, only their time, direction and size.
type WSInfo struct {
	// CloseCode is the close code of the session: the server's when it
	// closed, 1000 when pathlens closed it, 1006 when the connection
	// ended without a close frame; 0 when the upgrade never completed.
	CloseCode  int       `json:"close_code"`
	MessagesIn int       `json:"messages_in"`
	PingRTTMS  []float64 `json:"ping_rtt_ms"`

	// UpgradeStatus is the HTTP status of the upgrade response (101 when
	// it worked, 0 when none came).
	UpgradeStatus int      `json:"upgrade_status"`
	Subprotocol   string   `json:"subprotocol,omitempty"`
	Extensions    []string `json:"extensions,omitempty"`
	// AuthChallenge is the WWW-Authenticate header of a refused upgrade.
	AuthChallenge string `json:"auth_challenge,omitempty"`

	MessagesOut int   `json:"messages_out"`
	BytesIn     int64 `json:"bytes_in"`
	BytesOut    int64 `json:"bytes_out"`
	// Messages lists the first MaxWSMessagesRecorded messages in either
	// direction; MessagesUnrecorded counts the rest.
	Messages           []WSMessage `json:"messages"`
	MessagesUnrecorded int         `json:"messages_unrecorded,omitempty"`
	// Pings lists every ping sent, PingIntervalMS their spacing.
	Pings          []WSPing `json:"pings"`
	PingIntervalMS float64  `json:"ping_interval_ms,omitempty"`

	// HoldMS is the hold asked for; HoldCut is true when the budget ended
	// the session before it. SessionMS runs from the end of the upgrade
	// to the close; IdleMS is the quiet time (no message, ping or pong in
	// either direction) just before the close.
	HoldMS    float64 `json:"hold_ms"`
	HoldCut   bool    `json:"hold_cut,omitempty"`
	SessionMS float64 `json:"session_ms"`
	IdleMS    float64 `json:"idle_ms"`

	// MaxMessage is the read limit per message; ReadLimited is true when a
	// message exceeded it (pathlens closed the session with 1009).
	MaxMessage  int64 `json:"max_message"`
	ReadLimited bool  `json:"read_limited,omitempty"`

	Close *WSClose `json:"close,omitempty"`

	// The bearer token: never the token itself, only its fingerprint
	// ("sha256:" + 8 hex digits), where it came from, how it was sent
	// ("header" or "query:NAME") and its expiry when known.
	TokenFingerprint string     `json:"token_fingerprint,omitempty"`
	TokenSource      string     `json:"token_source,omitempty"`
	TokenVia         string     `json:"token_via,omitempty"`
	TokenExp         *time.Time `json:"token_exp,omitempty"`
}

// WSMessage is one data message: when (ms from started_at), which way
// ("in" from the server, "out" from pathlens), its type ("text",
// "binary") and its payload size.
type WSMessage struct {
	AtMS  float64 `json:"at_ms"`
	Dir   string  `json:"dir"`
	Type  string  `json:"type"`
	Bytes int64   `json:"bytes"`
}

// WSPing is one ping: when it was sent, whether a pong came and after how
// long, and whether it timed out (no pong within the ping interval while
// the session lasted that long).
type WSPing struct {
	SentMS   float64 `json:"sent_ms"`
	Pong     bool    `json:"pong"`
	RTTMS    float64 `json:"rtt_ms,omitempty"`
	TimedOut bool    `json:"timed_out,omitempty"`
}

// WSClose is how the session ended. By is "server" (a close frame, or the
// connection dropped) or "client" (pathlens closed it: the hold ended, the
// budget ran out, or a message exceeded the read limit). FrameReceived is
// false when no close frame arrived at all. AtMS is when the close began
// (ms from started_at). Error is the low-level cause of a close without a
// frame ("EOF", "connection reset by peer").
type WSClose struct {
	Code          int     `json:"code"`
	Reason        string  `json:"reason,omitempty"`
	By            string  `json:"by"`
	FrameReceived bool    `json:"frame_received"`
	AtMS          float64 `json:"at_ms"`
	Error         string  `json:"error,omitempty"`
}

// Who closed a WebSocket session (WSClose.By).
const (
	WSClosedByServer = "server"
	WSClosedByClient = "client"
)
