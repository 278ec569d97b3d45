package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

func wsResult() *probe.Result {
	exp := time.Date(2026, 11, 21, 10, 0, 3, 0, time.UTC)
	return &probe.Result{
		Schema: probe.Schema, Target: "wss://chat.example.com/socket", Kind: "wss", StartedAt: t0, Success: true, TotalMS: 3010,
		Phases: []probe.Phase{{Name: "connect", DurationMS: 1}, {Name: "upgrade", StartMS: 1, DurationMS: 2}, {Name: "hold", StartMS: 3, DurationMS: 3007}},
		WS: &probe.WSInfo{
			CloseCode: 4401, MessagesIn: 2, MessagesOut: 1, BytesIn: 10, BytesOut: 5, UpgradeStatus: 101, Subprotocol: "chat.v1",
			PingRTTMS: []float64{1, 3}, PingIntervalMS: 500,
			Pings:     []probe.WSPing{{SentMS: 500, Pong: true, RTTMS: 1}, {SentMS: 1000, Pong: true, RTTMS: 3}, {SentMS: 1500, TimedOut: true}},
			SessionMS: 3000, IdleMS: 1200,
			Close:            &probe.WSClose{Code: 4401, Reason: "token expired\x1b[2J", By: "server", FrameReceived: true, AtMS: 3003},
			TokenFingerprint: "sha256:0a1b2c3d", TokenSource: "jwt-hs256", TokenVia: "header", TokenExp: &exp,
		},
		Findings: []probe.Finding{},
	}
}

func TestHumanWS(t *testing.T) {
	var b bytes.Buffer
	if err := Human(&b, wsResult(), Style{Width: 100}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"ws    101 subprotocol chat.v1, messages 2 in / 1 out (10 B / 5 B),",
		"pings 2/3 answered rtt min/avg/max 1.00/2.00/3.00 ms, 1 timed out,",
		`closed by the server with 4401 "token expired\x1b[2J" after 3000 ms (idle 1200 ms),`,
		"token sha256:0a1b2c3d (jwt-hs256, via header, exp 2026-11-21T10:00:03Z)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a close reason put an escape sequence on the terminal")
	}

	r := wsResult()
	r.WS.Close = &probe.WSClose{Code: 1006, By: "server", Error: "connection reset by peer", AtMS: 2001}
	b.Reset()
	Human(&b, r, Style{Width: 200})
	if !strings.Contains(b.String(), "dropped by the server after 3000 ms without a close frame (connection reset by peer; idle 1200 ms)") {
		t.Errorf("drop:\n%s", b.String())
	}
	r.WS = &probe.WSInfo{UpgradeStatus: 401, AuthChallenge: `Bearer realm="x"`}
	b.Reset()
	Human(&b, r, Style{Width: 200})
	if !strings.Contains(b.String(), `ws    upgrade answered 401 Unauthorized, WWW-Authenticate: Bearer realm="x"`) {
		t.Errorf("refused:\n%s", b.String())
	}

	// The ws block round-trips through JSON.
	b.Reset()
	if err := JSON(&b, wsResult()); err != nil {
		t.Fatal(err)
	}
	var back probe.Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.WS.Close.Code != 4401 || back.WS.TokenExp == nil || len(back.WS.Pings) != 3 {
		t.Errorf("json round trip: %v %+v", err, back.WS)
	}
	for _, key := range []string{`"close_code": 4401`, `"messages_in": 2`, `"ping_rtt_ms": [`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}
