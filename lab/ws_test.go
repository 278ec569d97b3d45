package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// wsDial opens a WebSocket to a scenario as a plain client would.
func wsDial(t *testing.T, l *Lab, name string, header http.Header, query string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	tr := &http.Transport{DialContext: dialLab, TLSClientConfig: &tls.Config{RootCAs: l.CAPool()}}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	u := target(t, l, name).String() + query
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, HTTPHeader: header})
}

func labToken(t *testing.T, l *Lab, ttl time.Duration, secret []byte) string {
	t.Helper()
	if secret == nil {
		var err error
		secret, err = os.ReadFile(filepath.Join(l.Dir(), WSJWTSecretFile))
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(ttl).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestWSEcho(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-echo"}})
	u := target(t, l, "ws-echo")
	if u.Scheme != "wss" || u.Hostname() != "ws-echo.lab.test" || u.Path != "/echo" {
		t.Errorf("target %s", u)
	}
	c, _, err := wsDial(t, l, "ws-echo", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	typ, b, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(b) != "hello" {
		t.Fatalf("echo: %v %q %v", typ, b, err)
	}
	readCtx := c.CloseRead(context.Background())
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close handshake: %v", err)
	}
	<-readCtx.Done()

	// A plain GET is told to upgrade.
	resp, _ := get(t, client(t, l, nil), "https://"+u.Host+"/echo")
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %s", resp.Status)
	}
}

func TestWSJWT(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-jwt"}})
	s, _ := l.Scenario("ws-jwt")
	secretFile := filepath.Join(l.Dir(), WSJWTSecretFile)
	if fi, err := os.Stat(secretFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	if strings.Join(s.Args, " ") != "--jwt-secret "+secretFile+" --jwt-ttl 3s --hold 6s" {
		t.Errorf("args %q", s.Args)
	}
	for name, h := range map[string]http.Header{
		"no token":     nil,
		"wrong secret": {"Authorization": {"Bearer " + labToken(t, l, time.Minute, []byte("not the lab's secret"))}},
		"expired":      {"Authorization": {"Bearer " + labToken(t, l, -time.Minute, nil)}},
		"not a jwt":    {"Authorization": {"Bearer opaque"}},
	} {
		_, resp, err := wsDial(t, l, "ws-jwt", h, "")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: resp %v err %v, want 401", name, resp, err)
		}
	}

	// A valid token: the session is closed with 4401 at its exp.
	tok := labToken(t, l, time.Second, nil)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	expT, _ := claims.GetExpirationTime()
	c, _, err := wsDial(t, l, "ws-jwt", http.Header{"Authorization": {"Bearer " + tok}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4401 || ce.Reason != "token expired" {
		t.Fatalf("read: %v, want close 4401", err)
	}
	if d := time.Since(expT.Time); d < -50*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("closed %v from exp", d)
	}

	// The token is accepted as the access_token query parameter too.
	c2, _, err := wsDial(t, l, "ws-jwt", nil, "?access_token="+labToken(t, l, time.Minute, nil))
	if err != nil {
		t.Fatalf("token in the query: %v", err)
	}
	c2.Close(websocket.StatusNormalClosure, "")
}

func TestWSReject(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-reject"}})
	_, resp, err := wsDial(t, l, "ws-reject", nil, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("resp %v err %v, want 401 with a challenge", resp, err)
	}
}

func TestWSDrop(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-drop"}})
	c, _, err := wsDial(t, l, "ws-drop", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	start := time.Now()
	ticks := 0
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				t.Errorf("got a close frame: %v", err)
			}
			break
		}
		if string(b) != "tick" {
			t.Errorf("message %q", b)
		}
		ticks++
	}
	if took := time.Since(start); took < wsDropAfter-100*time.Millisecond || took > wsDropAfter+time.Second {
		t.Errorf("dropped after %v, want %v", took, wsDropAfter)
	}
	if ticks < 3 {
		t.Errorf("%d ticks", ticks)
	}
}

func TestWSNoPong(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-no-pong"}})
	c, _, err := wsDial(t, l, "ws-no-pong", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	readCtx := c.CloseRead(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping: %v, want no pong", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	<-readCtx.Done()
}

func TestWSIdle(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-idle"}})
	// The server's idle clock starts at the upgrade, which happens after
	// this instant and before Dial returns: start the stopwatch here so
	// the lower bound holds however slowly Dial returns.
	start := time.Now()
	c, _, err := wsDial(t, l, "ws-idle", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != wsIdleCode {
		t.Fatalf("read: %v, want close %d", err, wsIdleCode)
	}
	if took := time.Since(start); took < wsIdleAfter || took > wsIdleAfter+time.Second {
		t.Errorf("closed after %v, want %v", took, wsIdleAfter)
	}
}

// Close ends open sessions at once.
func TestWSCloseEndsSessions(t *testing.T) {
	l := startLab(t, Options{Only: []string{"ws-echo", "ws-idle"}})
	var conns []*websocket.Conn
	for _, n := range []string{"ws-echo", "ws-idle"} {
		c, _, err := wsDial(t, l, n, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %v with open sessions", took)
	}
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("session still open after Close: %v", err)
		}
	}
}
