package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// wsHealthy is a healthy ws session: upgraded, one round trip, answered
// pings, closed by pathlens after a 1 s hold.
func wsHealthy() *probe.Result {
	return &probe.Result{
		Schema: probe.Schema, Target: "ws://127.0.0.1:8080/chat", Kind: "ws", StartedAt: t0, Success: true,
		TotalMS: 1003, TimeoutMS: 10000,
		Phases: []probe.Phase{
			{Name: "connect", StartMS: 0, DurationMS: 0.3},
			{Name: "upgrade", StartMS: 0.3, DurationMS: 0.7},
			{Name: "wait", StartMS: 1.0, DurationMS: 0.4},
			{Name: "hold", StartMS: 1.4, DurationMS: 1001.6},
		},
		Conn: &probe.ConnInfo{RemoteAddr: "127.0.0.1:8080", IPVersion: 4},
		WS: &probe.WSInfo{
			CloseCode: 1000, MessagesIn: 1, MessagesOut: 1, PingRTTMS: []float64{0.2, 0.3},
			UpgradeStatus: 101, BytesIn: 5, BytesOut: 5,
			Messages:       []probe.WSMessage{{AtMS: 1.0, Dir: "out", Type: "text", Bytes: 5}, {AtMS: 1.4, Dir: "in", Type: "text", Bytes: 5}},
			Pings:          []probe.WSPing{{SentMS: 500, Pong: true, RTTMS: 0.2}, {SentMS: 1000, Pong: true, RTTMS: 0.3}},
			PingIntervalMS: 500, HoldMS: 1000, SessionMS: 1000, IdleMS: 0.7, MaxMessage: 1 << 20,
			Close: &probe.WSClose{Code: 1000, By: "client", FrameReceived: true, AtMS: 1001},
		},
		Findings: []Finding{},
	}
}

// serverClose makes the server end the session at atMS with code (0: a
// drop without a close frame) after idleMS of quiet.
func serverClose(r *probe.Result, atMS float64, code int, idleMS float64) *probe.Result {
	w := r.WS
	c := &probe.WSClose{By: "server", AtMS: atMS, Code: code, FrameReceived: code != 0}
	if code == 0 {
		c.Code, c.Error = 1006, "connection reset by peer"
		r.Success = false
		r.Error = &probe.ErrorInfo{Class: probe.ClassProtocol, Phase: "hold", Cause: "abnormal_close", Message: "the server dropped the connection without a close frame"}
	}
	w.Close, w.CloseCode = c, c.Code
	w.SessionMS = atMS - 1.0
	w.IdleMS = idleMS
	return r
}

func withToken(r *probe.Result, exp time.Time) *probe.Result {
	r.WS.TokenFingerprint, r.WS.TokenSource, r.WS.TokenVia = "sha256:0a1b2c3d", "jwt-hs256", "header"
	r.WS.TokenExp = &exp
	return r
}

func upgradeFailed(status int, class probe.ErrorClass, cause string) *probe.Result {
	r := wsHealthy()
	r.Success = false
	r.Error = &probe.ErrorInfo{Class: class, Phase: "upgrade", Cause: cause, Message: "the upgrade failed"}
	r.Phases = r.Phases[:2]
	r.WS = &probe.WSInfo{UpgradeStatus: status, PingRTTMS: []float64{}, Messages: []probe.WSMessage{}, Pings: []probe.WSPing{}}
	return r
}

func TestWSHealthyHasNoFindings(t *testing.T) {
	wantIDs(t, diag(t, wsHealthy()))
	r := wsHealthy()
	r.Kind = "wss"
	wantIDs(t, diag(t, r))
	// A slow first message is not HTTP_SERVER_SLOW: a ws wait is not a response.
	r = wsHealthy()
	setPhase(r, "wait", 900)
	r.TotalMS = 1000
	wantIDs(t, diag(t, r))
}

func TestWSUpgradeFailed(t *testing.T) {
	fs := diag(t, upgradeFailed(404, probe.ClassHTTP, "status"))
	wantIDs(t, fs, IDWSUpgradeFailed)
	wantEvidence(t, find(fs, IDWSUpgradeFailed), map[string]any{"upgrade_status": 404, "cause": "status"})

	fs = diag(t, upgradeFailed(101, probe.ClassProtocol, "bad_handshake"))
	wantIDs(t, fs, IDWSUpgradeFailed)
	fs = diag(t, upgradeFailed(0, probe.ClassProtocol, "reset"))
	wantIDs(t, fs, IDWSUpgradeFailed)

	// The budget ran out during the upgrade: PROBE_TIMEOUT says so.
	r := upgradeFailed(0, probe.ClassTimeout, "deadline")
	r.Phases[1].Incomplete = true
	wantIDs(t, diag(t, r), IDProbeTimeout)
}

func TestWSAuthRejected(t *testing.T) {
	for _, st := range []int{401, 403} {
		r := upgradeFailed(st, probe.ClassHTTP, "status")
		r.WS.AuthChallenge = `Bearer error="invalid_token"`
		fs := diag(t, r)
		wantIDs(t, fs, IDWSAuthRejected)
		wantEvidence(t, find(fs, IDWSAuthRejected), map[string]any{"upgrade_status": st, "auth_challenge": `Bearer error="invalid_token"`})
	}
	// Closed at once with an auth code; the boundary is 1 s after the upgrade.
	for _, code := range []int{1008, 4401, 4403} {
		fs := diag(t, serverClose(wsHealthy(), 301, code, 300))
		wantIDs(t, fs, IDWSAuthRejected)
		if f := find(fs, IDWSAuthRejected); f != nil && f.Phase != "hold" {
			t.Errorf("phase %s", f.Phase)
		}
	}
	wantIDs(t, diag(t, serverClose(wsHealthy(), 1001, 4401, 900)), IDWSAuthRejected)
	wantIDs(t, diag(t, serverClose(wsHealthy(), 1001.001, 4401, 900)))
	// A token was sent: its fingerprint is in the evidence.
	fs := diag(t, withToken(serverClose(wsHealthy(), 301, 4401, 300), t0.Add(time.Hour)))
	wantEvidence(t, find(fs, IDWSAuthRejected), map[string]any{"token_fingerprint": "sha256:0a1b2c3d", "close_code": 4401})
}

func TestWSTokenExpired(t *testing.T) {
	exp := t0.Add(3 * time.Second)
	// Closed at exp after 3 s of quiet: the expiry explains it, not an idle timeout.
	fs := diag(t, withToken(serverClose(wsHealthy(), 3000.5, 4401, 2999), exp))
	wantIDs(t, fs, IDWSTokenExpired)
	wantEvidence(t, find(fs, IDWSTokenExpired), map[string]any{
		"token_exp": "2026-11-21T10:00:03Z", "close_code": 4401, "close_after_exp_ms": 0.5, "token_fingerprint": "sha256:0a1b2c3d",
	})
	// Boundaries: within 2 s either side.
	wantIDs(t, diag(t, withToken(serverClose(wsHealthy(), 5000, 1000, 100), exp)), IDWSTokenExpired)
	wantIDs(t, diag(t, withToken(serverClose(wsHealthy(), 1000, 1000, 100), exp)), IDWSTokenExpired)
	wantIDs(t, diag(t, withToken(serverClose(wsHealthy(), 5001, 1000, 100), exp)))
	// A token that expires right after the upgrade: closed at once with
	// 4401 is the expiry, not a refusal.
	wantIDs(t, diag(t, withToken(serverClose(wsHealthy(), 300, 4401, 200), t0.Add(300*time.Millisecond))), IDWSTokenExpired)
	// A drop at exp: both the expiry and the abnormal close.
	wantIDs(t, diag(t, withToken(serverClose(wsHealthy(), 3000, 0, 200), exp)), IDWSAbnormalClose, IDWSTokenExpired)
	// pathlens closing near exp is not the server's doing.
	r := withToken(wsHealthy(), t0.Add(time.Second))
	wantIDs(t, diag(t, r))
}

func TestWSAbnormalClose(t *testing.T) {
	fs := diag(t, serverClose(wsHealthy(), 2001, 0, 400))
	wantIDs(t, fs, IDWSAbnormalClose)
	wantEvidence(t, find(fs, IDWSAbnormalClose), map[string]any{"close_code": 1006, "frame_received": false, "error": "connection reset by peer", "session_ms": 2000})
	wantIDs(t, diag(t, serverClose(wsHealthy(), 2001, 1011, 400)), IDWSAbnormalClose)
	// A normal close by the server is no finding.
	wantIDs(t, diag(t, serverClose(wsHealthy(), 2001, 1000, 400)))
	// A drop while waiting for the first message names the wait phase.
	r := serverClose(wsHealthy(), 2001, 0, 400)
	r.Error.Phase = "wait"
	if f := find(diag(t, r), IDWSAbnormalClose); f == nil || f.Phase != "wait" {
		t.Errorf("finding %+v, want phase wait", f)
	}
}

func TestWSPingTimeout(t *testing.T) {
	r := wsHealthy()
	r.WS.Pings = []probe.WSPing{{SentMS: 500, Pong: true, RTTMS: 0.2}, {SentMS: 1000, TimedOut: true}, {SentMS: 1500, Pong: true, RTTMS: 620, TimedOut: true}}
	r.WS.PingRTTMS = []float64{0.2, 620}
	fs := diag(t, r)
	wantIDs(t, fs, IDWSPingTimeout)
	wantEvidence(t, find(fs, IDWSPingTimeout), map[string]any{"pings_sent": 3, "timed_out": 2, "late_pongs": 1, "first_timeout_sent_ms": 1000})
	// Unanswered only because the session ended first: not a timeout.
	r = wsHealthy()
	r.WS.Pings = []probe.WSPing{{SentMS: 900}}
	wantIDs(t, diag(t, r))
}

func TestWSIdleClosed(t *testing.T) {
	fs := diag(t, serverClose(wsHealthy(), 3001, 1001, 3000))
	wantIDs(t, fs, IDWSIdleClosed)
	wantEvidence(t, find(fs, IDWSIdleClosed), map[string]any{"idle_ms": 3000, "close_code": 1001, "last_traffic_ms": 1})
	// The threshold: 1 s of quiet.
	wantIDs(t, diag(t, serverClose(wsHealthy(), 3001, 1001, 1000)), IDWSIdleClosed)
	wantIDs(t, diag(t, serverClose(wsHealthy(), 3001, 1001, 999.9)))
	// A drop after a quiet period is both.
	wantIDs(t, diag(t, serverClose(wsHealthy(), 60001, 0, 60000)), IDWSAbnormalClose, IDWSIdleClosed)
	// Only ws results.
	r := healthy()
	r.WS = serverClose(wsHealthy(), 3001, 1001, 3000).WS
	wantIDs(t, diag(t, r))
}

func TestWSMessageTooLarge(t *testing.T) {
	r := wsHealthy()
	w := r.WS
	w.ReadLimited, w.MaxMessage, w.MessagesIn, w.SessionMS = true, 1<<20, 1, 12.5
	w.Close = &probe.WSClose{Code: 1009, By: "client", AtMS: 14}
	w.CloseCode = 1009
	fs := diag(t, r)
	wantIDs(t, fs, IDWSMessageTooLarge)
	f := find(fs, IDWSMessageTooLarge)
	wantEvidence(t, f, map[string]any{"max_message": int64(1 << 20), "close_code": 1009, "close_ms": 14, "messages_in": 1})
	if !strings.Contains(f.Summary, "larger than 1 MiB") || !strings.Contains(f.Summary, "1009") {
		t.Errorf("summary %q", f.Summary)
	}
	// Under the limit: nothing, whatever the size of the messages.
	r = wsHealthy()
	r.WS.BytesIn = 900 << 10
	wantIDs(t, diag(t, r))
}
