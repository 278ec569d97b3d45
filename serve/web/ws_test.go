package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
)

func TestWSView(t *testing.T) {
	if newWSView(&probe.Result{}) != nil {
		t.Error("view without a ws block")
	}
	// A refused upgrade: no timeline, the status says why.
	v := newWSView(&probe.Result{WS: &probe.WSInfo{UpgradeStatus: 401}})
	if v == nil || !v.EndedBad || v.Ended != "upgrade answered 401 Unauthorized, not 101" || v.Timeline != nil {
		t.Errorf("refused: %+v", v)
	}
	// A dropped session with messages, pings (one timed out) and a token.
	exp := time.Date(2026, 11, 21, 10, 0, 3, 0, time.UTC)
	w := &probe.WSInfo{
		UpgradeStatus: 101, MessagesIn: 2, MessagesOut: 1, BytesIn: 8, BytesOut: 5, SessionMS: 2000, IdleMS: 400,
		Messages:  []probe.WSMessage{{AtMS: 10, Dir: "out", Type: "text", Bytes: 5}, {AtMS: 11, Dir: "in", Type: "text", Bytes: 4}, {AtMS: 1601, Dir: "in", Type: "binary", Bytes: 4}},
		Pings:     []probe.WSPing{{SentMS: 510, Pong: true, RTTMS: 0.5}, {SentMS: 1010, TimedOut: true}, {SentMS: 1980}},
		PingRTTMS: []float64{0.5}, PingIntervalMS: 500,
		Close:            &probe.WSClose{By: "server", Code: 1006, Error: "connection reset by peer", AtMS: 2010},
		TokenFingerprint: "sha256:0a1b2c3d", TokenSource: "jwt-hs256", TokenVia: "header", TokenExp: &exp,
	}
	v = newWSView(&probe.Result{WS: w})
	if !v.EndedBad || !strings.Contains(v.Ended, "dropped by the server without a close frame after 2000 ms (connection reset by peer)") {
		t.Errorf("ended %q", v.Ended)
	}
	if v.Token != "token sha256:0a1b2c3d (jwt-hs256, via header, exp 2026-11-21 10:00:03 UTC)" {
		t.Errorf("token %q", v.Token)
	}
	tl := v.Timeline
	if tl == nil || len(tl.Marks) != 6 || tl.Close == nil || tl.Close.Class != "ws-close bad" || tl.Close.X != "720" {
		t.Fatalf("timeline %+v", tl)
	}
	if m := tl.Marks[0]; m.Class != "ws-out" || m.X != "0" {
		t.Errorf("first mark %+v", m)
	}
	var whats []string
	for _, e := range v.Events {
		whats = append(whats, e.At+" "+e.What)
	}
	want := []string{"+0.00 ms → text message, 5 B", "+1.00 ms ← text message, 4 B", "+500 ms → ping, pong after 0.50 ms",
		"+1000 ms → ping, no pong", "+1591 ms ← binary message, 4 B", "+1970 ms → ping, no pong before the close",
		"+2000 ms connection dropped by the server, no close frame"}
	if strings.Join(whats, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", whats, want)
	}
	if !v.Events[3].Bad || v.Events[2].Bad {
		t.Errorf("bad flags %+v", v.Events)
	}
}

// The target page of a ws target shows its latest session, really probed.
func TestTargetPageWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab"), Only: []string{"ws-echo", "ws-idle"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	echo, _ := l.Scenario("ws-echo")
	idle, _ := l.Scenario("ws-idle")
	yml := fmt.Sprintf(`modules:
  chat: {kind: ws, tls: {ca_file: %q}, dns: {server: %q}, ws: {send: "<b>hi</b>", ping_interval: 100ms, hold: 500ms}}
  quiet: {kind: ws, ws: {hold: 4s}}
targets:
  - {name: chat, url: %q, module: chat, interval: 15s}
  - {name: quiet, url: %q, module: quiet, interval: 15s}
`, m.CAFile, m.DNSServer, echo.Target, idle.Target)
	_, st, srv := serveProbed(t, ctx, dir, yml)

	page := func(path string) string {
		t.Helper()
		resp, err := httpClient.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(b)
	}
	body := page("/targets/chat")
	for _, want := range []string{"<h2>WebSocket session</h2>", "101 Switching Protocols · 1 messages in, 1 out", "How it ended: closed by pathlens with 1000",
		"(end of the hold)", `<svg class="ws-tl"`, `class="ws-in"`, `class="ws-out"`, `class="ws-ping"`, "pong after"} {
		if !strings.Contains(html.UnescapeString(body), want) && !strings.Contains(body, want) {
			t.Errorf("chat page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>hi</b>") {
		t.Error("the page shows message content")
	}
	body = html.UnescapeString(page("/targets/quiet"))
	if !regexp.MustCompile(`How it ended: closed by the server with 1001 "idle timeout" after 3\d{3} ms`).MatchString(body) {
		t.Error("quiet page lacks how it ended, after about 3 s")
	}
	for _, want := range []string{"WS_IDLE_CLOSED"} {
		if !strings.Contains(body, want) {
			t.Errorf("quiet page lacks %q", want)
		}
	}
	// Other kinds have no such section (the page of a run has its JSON).
	run, _, err := st.Latest(ctx, "chat")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page(fmt.Sprintf("/runs/%d", run.ID)), "WebSocket session</h2>") {
		t.Error("run page grew a ws section")
	}
}
