package wsx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func labTarget(t *testing.T, l *lab.Lab, name string) probe.Target {
	t.Helper()
	tg, err := probe.ParseTarget(probetest.LabScenario(t, l, name).Target)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func labOpts(l *lab.Lab, wo *probe.WSOptions) *probe.Options {
	return &probe.Options{RootCAs: l.CAPool(), CAFile: "lab", DNSServer: l.DNSServer(), WS: wo, Timeout: 10 * time.Second}
}

func dump(t *testing.T, r *probe.Result) string {
	t.Helper()
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

// A healthy wss session: every phase, a round trip, answered pings and a
// clean close by pathlens once the hold is over. The upgrade's context is
// cancelled right after the upgrade; the session must outlive it.
func TestEchoSession(t *testing.T) {
	l := probetest.StartLab(t, "ws-echo")
	tg := labTarget(t, l, "ws-echo")
	r := probe.Run(context.Background(), tg, labOpts(l, &probe.WSOptions{Send: "hello", PingInterval: 100 * time.Millisecond, Hold: 700 * time.Millisecond}))
	if !r.Success {
		t.Fatalf("failed: %+v\n%s", r.Error, dump(t, r))
	}
	if got := strings.Join(probetest.PhaseNames(r), " "); got != "dns connect tls upgrade wait hold" {
		t.Errorf("phases %q", got)
	}
	ws := r.WS
	if ws.UpgradeStatus != 101 || ws.MessagesIn != 1 || ws.MessagesOut != 1 || ws.BytesIn != 5 || ws.BytesOut != 5 {
		t.Errorf("ws = %+v", ws)
	}
	if len(ws.Messages) != 2 || ws.Messages[0].Dir != "out" || ws.Messages[1].Dir != "in" || ws.Messages[1].Type != "text" {
		t.Errorf("messages = %+v", ws.Messages)
	}
	if len(ws.Pings) < 4 || len(ws.PingRTTMS) != len(ws.Pings) {
		t.Errorf("pings = %+v rtts %v", ws.Pings, ws.PingRTTMS)
	}
	for _, p := range ws.Pings {
		if !p.Pong || p.TimedOut {
			t.Errorf("ping %+v", p)
		}
	}
	c := ws.Close
	if c == nil || c.By != probe.WSClosedByClient || c.Code != 1000 || !c.FrameReceived || ws.CloseCode != 1000 {
		t.Errorf("close = %+v", c)
	}
	if ws.SessionMS < 690 || ws.HoldCut {
		t.Errorf("session %.1f ms, cut %v: the session did not last the hold", ws.SessionMS, ws.HoldCut)
	}
	if r.TLS == nil || r.TLS.ALPN != "http/1.1" || !r.TLS.Verified {
		t.Errorf("tls = %+v", r.TLS)
	}
	if ws.TokenFingerprint != "" || ws.TokenSource != "" {
		t.Errorf("token shown without a token: %+v", ws)
	}
}

func writeSecretFor(t *testing.T, l *lab.Lab) string {
	t.Helper()
	p := filepath.Join(l.Dir(), lab.WSJWTSecretFile)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The ws-jwt server closes with 4401 at the minted token's exp.
func TestJWTExpiry(t *testing.T) {
	l := probetest.StartLab(t, "ws-jwt")
	tg := labTarget(t, l, "ws-jwt")
	src, err := NewJWTSource(JWTConfig{SecretFile: writeSecretFor(t, l), TTL: 2 * time.Second, Claims: map[string]any{"sub": "probe"}})
	if err != nil {
		t.Fatal(err)
	}
	r := probe.Run(context.Background(), tg, labOpts(l, &probe.WSOptions{Hold: 5 * time.Second, Token: src}))
	if !r.Success {
		t.Fatalf("failed: %+v", r.Error)
	}
	ws := r.WS
	if ws.TokenSource != "jwt-hs256" || ws.TokenVia != "header" || !strings.HasPrefix(ws.TokenFingerprint, "sha256:") || len(ws.TokenFingerprint) != 15 || ws.TokenExp == nil {
		t.Fatalf("token facts %+v", ws)
	}
	c := ws.Close
	if c == nil || c.By != probe.WSClosedByServer || c.Code != 4401 || c.Reason != "token expired" || !c.FrameReceived {
		t.Fatalf("close = %+v", c)
	}
	closeAt := r.StartedAt.Add(time.Duration(c.AtMS * float64(time.Millisecond)))
	if d := closeAt.Sub(*ws.TokenExp); d < -100*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("closed %v from exp", d)
	}
	if got := strings.Join(probetest.PhaseNames(r), " "); got != "connect upgrade hold" {
		t.Errorf("phases %q", got)
	}
}

// --token-param: the token travels in the request URL only.
func TestTokenParam(t *testing.T) {
	l := probetest.StartLab(t, "ws-jwt")
	tg := labTarget(t, l, "ws-jwt")
	src, err := NewJWTSource(JWTConfig{SecretFile: writeSecretFor(t, l), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r := probe.Run(context.Background(), tg, labOpts(l, &probe.WSOptions{Token: src, TokenParam: "access_token"}))
	if !r.Success || r.WS.UpgradeStatus != 101 || r.WS.TokenVia != "query:access_token" {
		t.Fatalf("result %+v ws %+v", r.Error, r.WS)
	}
	if strings.Contains(r.Target, "access_token") || r.Target != tg.Raw {
		t.Errorf("target %q carries the token parameter", r.Target)
	}
	// Without a token the same server refuses the upgrade.
	r = probe.Run(context.Background(), tg, labOpts(l, nil))
	if r.Success || r.Error.Class != probe.ClassHTTP || r.Error.Phase != "upgrade" || r.WS.UpgradeStatus != 401 || !strings.Contains(r.WS.AuthChallenge, "invalid_token") {
		t.Errorf("no token: %+v ws %+v", r.Error, r.WS)
	}
}

func TestReject(t *testing.T) {
	l := probetest.StartLab(t, "ws-reject")
	r := probe.Run(context.Background(), labTarget(t, l, "ws-reject"), labOpts(l, nil))
	if r.Success || r.Error.Class != probe.ClassHTTP || r.Error.Cause != "status" || r.Error.Phase != "upgrade" {
		t.Fatalf("error %+v", r.Error)
	}
	if r.WS.UpgradeStatus != 401 || r.WS.Close != nil || r.WS.CloseCode != 0 {
		t.Errorf("ws %+v", r.WS)
	}
	if p := r.Phases[len(r.Phases)-1]; p.Name != "upgrade" {
		t.Errorf("last phase %+v", p)
	}
}

// ws-drop resets the connection 2 s in: no close frame, 1006, a
// protocol error in hold.
func TestDrop(t *testing.T) {
	l := probetest.StartLab(t, "ws-drop")
	r := probe.Run(context.Background(), labTarget(t, l, "ws-drop"), labOpts(l, &probe.WSOptions{Hold: 4 * time.Second}))
	if r.Success || r.Error.Class != probe.ClassProtocol || r.Error.Cause != "abnormal_close" || r.Error.Phase != "hold" {
		t.Fatalf("error %+v", r.Error)
	}
	c := r.WS.Close
	if c == nil || c.By != probe.WSClosedByServer || c.FrameReceived || c.Code != 1006 || c.Error == "" {
		t.Fatalf("close %+v", c)
	}
	if r.WS.SessionMS < 1900 || r.WS.SessionMS > 2600 || r.WS.MessagesIn < 3 || r.WS.IdleMS > 600 {
		t.Errorf("session %.0f ms, %d messages, idle %.0f ms", r.WS.SessionMS, r.WS.MessagesIn, r.WS.IdleMS)
	}
}

func TestNoPong(t *testing.T) {
	l := probetest.StartLab(t, "ws-no-pong")
	r := probe.Run(context.Background(), labTarget(t, l, "ws-no-pong"), labOpts(l, &probe.WSOptions{PingInterval: 200 * time.Millisecond, Hold: time.Second}))
	if !r.Success {
		t.Fatalf("error %+v", r.Error)
	}
	timedOut := 0
	for _, p := range r.WS.Pings {
		if p.Pong {
			t.Errorf("pong from a server that never answers: %+v", p)
		}
		if p.TimedOut {
			timedOut++
		}
	}
	if timedOut < 3 || len(r.WS.PingRTTMS) != 0 {
		t.Errorf("pings %+v", r.WS.Pings)
	}
	if c := r.WS.Close; c == nil || c.By != probe.WSClosedByClient || !c.FrameReceived {
		t.Errorf("close %+v", c)
	}
}

func TestIdleClose(t *testing.T) {
	l := probetest.StartLab(t, "ws-idle")
	r := probe.Run(context.Background(), labTarget(t, l, "ws-idle"), labOpts(l, &probe.WSOptions{Hold: 5 * time.Second}))
	if !r.Success {
		t.Fatalf("error %+v", r.Error)
	}
	c := r.WS.Close
	if c == nil || c.By != probe.WSClosedByServer || c.Code != 1001 || !c.FrameReceived {
		t.Fatalf("close %+v", c)
	}
	if r.WS.IdleMS < 2900 || r.WS.IdleMS > 3500 || r.WS.SessionMS < 2900 {
		t.Errorf("idle %.0f ms session %.0f ms", r.WS.IdleMS, r.WS.SessionMS)
	}
}

// The hold is bounded by the budget: the session is cut (not failed) with
// time left for the close handshake.
func TestHoldBoundedByBudget(t *testing.T) {
	l := probetest.StartLab(t, "ws-echo")
	o := labOpts(l, &probe.WSOptions{Hold: 5 * time.Second})
	o.Timeout = time.Second
	start := time.Now()
	r := probe.Run(context.Background(), labTarget(t, l, "ws-echo"), o)
	if took := time.Since(start); took > 1100*time.Millisecond {
		t.Errorf("probe took %v with a 1 s budget", took)
	}
	if !r.Success || !r.WS.HoldCut || r.WS.Close == nil || !r.WS.Close.FrameReceived || r.TotalMS > 1000 {
		t.Errorf("result %+v ws %+v total %.1f", r.Error, r.WS, r.TotalMS)
	}
}

// A server that never answers --send: the wait phase times out.
func TestWaitTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for { // read and never answer
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	tg, _ := probe.ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 800 * time.Millisecond, WS: &probe.WSOptions{Send: "anyone?"}})
	if r.Success || r.Error.Class != probe.ClassTimeout || r.Error.Phase != "wait" {
		t.Fatalf("error %+v", r.Error)
	}
	if p := r.Phases[len(r.Phases)-1]; p.Name != "wait" || !p.Incomplete {
		t.Errorf("phases %+v", r.Phases)
	}
	if r.WS.Close == nil || r.WS.Close.By != probe.WSClosedByClient {
		t.Errorf("close %+v", r.WS.Close)
	}
	if r.TotalMS > 900 {
		t.Errorf("total %.0f ms with a 800 ms budget", r.TotalMS)
	}
}

// A message over the read limit ends the session with 1009 from pathlens.
func TestReadLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageBinary, make([]byte, 64<<10))
		ctx := c.CloseRead(r.Context())
		<-ctx.Done()
	}))
	defer srv.Close()
	tg, _ := probe.ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 3 * time.Second, WS: &probe.WSOptions{Hold: 2 * time.Second, MaxMessage: 1024}})
	if !r.WS.ReadLimited || r.WS.Close == nil || r.WS.Close.Code != 1009 || r.WS.Close.By != probe.WSClosedByClient {
		t.Fatalf("ws %+v close %+v err %+v", r.WS, r.WS.Close, r.Error)
	}
}

// Cancelling the probe (Ctrl-C, serve shutdown) closes the session
// politely and reports canceled.
func TestCancel(t *testing.T) {
	l := probetest.StartLab(t, "ws-echo")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	r := probe.Run(ctx, labTarget(t, l, "ws-echo"), labOpts(l, &probe.WSOptions{Hold: 5 * time.Second}))
	if r.Success || r.Error.Class != probe.ClassCanceled {
		t.Fatalf("error %+v", r.Error)
	}
	if c := r.WS.Close; c == nil || c.By != probe.WSClosedByClient || c.Code != 1001 {
		t.Errorf("close %+v", c)
	}
}

// A 101 with a wrong Sec-WebSocket-Accept is a broken upgrade.
func TestBadHandshake(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", "wrong")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	defer srv.Close()
	tg, _ := probe.ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 2 * time.Second})
	if r.Success || r.Error.Class != probe.ClassProtocol || r.Error.Cause != "bad_handshake" || r.WS.UpgradeStatus != 101 {
		t.Fatalf("error %+v ws %+v", r.Error, r.WS)
	}
}

// Nothing listening: the usual connect failure, no ws facts beyond options.
func TestRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	tg, _ := probe.ParseTarget("ws://" + addr + "/")
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 2 * time.Second})
	if r.Success || r.Error.Class != probe.ClassConnect || r.WS == nil || r.WS.UpgradeStatus != 0 {
		t.Fatalf("error %+v ws %+v", r.Error, r.WS)
	}
}

// A server flooding messages: every one is counted, the first
// MaxWSMessagesRecorded are listed, and the probe ends on time.
func TestMessageFloodBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		done := make(chan struct{})
		go func() { // answer pings and the close
			defer close(done)
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		for i := 0; i < 3000; i++ {
			if c.Write(r.Context(), websocket.MessageBinary, []byte{1, 2, 3}) != nil {
				break
			}
		}
		<-done
	}))
	defer srv.Close()
	tg, _ := probe.ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	start := time.Now()
	r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 2 * time.Second, WS: &probe.WSOptions{Hold: 800 * time.Millisecond}})
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("took %v", took)
	}
	w := r.WS
	if !r.Success || len(w.Messages) != probe.MaxWSMessagesRecorded || w.MessagesIn != 3000 ||
		w.MessagesIn != len(w.Messages)+w.MessagesUnrecorded || w.BytesIn != 9000 || w.Messages[0].Type != "binary" {
		t.Errorf("in %d, listed %d, unrecorded %d, bytes %d, err %+v", w.MessagesIn, len(w.Messages), w.MessagesUnrecorded, w.BytesIn, r.Error)
	}
}

// The writer records its message after the write returns, so an echo can be
// recorded first; the timeline must still come out in time order.
func TestMessageTimelineInTimeOrder(t *testing.T) {
	rec := probe.NewRecorder()
	t0 := rec.Now()
	s := &session{rec: rec, info: &probe.WSInfo{}, firstIn: make(chan struct{})}
	s.message(t0.Add(3*time.Millisecond), "in", websocket.MessageText, 5)
	s.message(t0.Add(1*time.Millisecond), "out", websocket.MessageText, 5)
	s.message(t0.Add(2*time.Millisecond), "out", websocket.MessageBinary, 1)
	s.message(t0.Add(4*time.Millisecond), "in", websocket.MessageText, 2)
	var dirs []string
	for i, m := range s.info.Messages {
		dirs = append(dirs, m.Dir)
		if i > 0 && m.AtMS < s.info.Messages[i-1].AtMS {
			t.Fatalf("out of order: %+v", s.info.Messages)
		}
	}
	if got := strings.Join(dirs, " "); got != "out out in in" {
		t.Fatalf("dirs %q", got)
	}
	if s.info.MessagesIn != 2 || s.info.MessagesOut != 2 {
		t.Fatalf("counts %+v", s.info)
	}
}

// A wss probe tests TLS session resumption on a second connection after
// the session, as https and grpcs probes do, outside the total; the
// check can be skipped.
func TestWSSResumptionCheck(t *testing.T) {
	l := probetest.StartLab(t, "ws-echo")
	tg := labTarget(t, l, "ws-echo")
	o := labOpts(l, &probe.WSOptions{Send: "hi", Hold: 100 * time.Millisecond})
	r := probe.Run(context.Background(), tg, o)
	if !r.Success {
		t.Fatalf("failed: %+v", r.Error)
	}
	rc := r.TLS.Resumption
	if rc == nil || !rc.Tested || !rc.Resumed || rc.HandshakeMS <= 0 {
		t.Fatalf("resumption = %+v, want tested and resumed", rc)
	}
	if last := r.Phases[len(r.Phases)-1]; r.TotalMS > last.StartMS+last.DurationMS+1 {
		t.Errorf("total %.3f ms runs past the last phase (%s ends at %.3f ms): the check was counted", r.TotalMS, last.Name, last.StartMS+last.DurationMS)
	}
	o.SkipResumptionCheck = true
	if r := probe.Run(context.Background(), tg, o); r.TLS.Resumption != nil {
		t.Errorf("skipped check ran: %+v", r.TLS.Resumption)
	}
}
