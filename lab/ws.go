package lab

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The WebSocket scenarios. Their servers speak RFC 6455 by hand (upgrade
// over net/http, then raw frames on the hijacked connection) so that each
// can misbehave exactly: ignore pings, drop TCP without a close frame,
// close at a token's expiry or after a quiet period.

// Timings the WebSocket scenarios inject.
const (
	wsDropAfter   = 2 * time.Second        // ws-drop: TCP dropped this long after the upgrade
	wsTickEvery   = 500 * time.Millisecond // ws-drop: a "tick" message this often until then
	wsIdleAfter   = 3 * time.Second        // ws-idle: closed after this long without a frame either way
	wsCloseWait   = time.Second            // how long a server waits for the client's close frame
	wsMaxFrame    = 1 << 20                // largest frame payload a lab server reads
	wsTokenExpiry = 4401                   // ws-jwt: close code at the token's exp
	wsIdleCode    = 1001                   // ws-idle: close code (going away)
)

// WSJWTSecretFile is the name, in the lab directory, of the HS256 secret
// the ws-jwt server verifies tokens with.
const WSJWTSecretFile = "ws-jwt.secret"

// wsBehavior selects how a lab WebSocket server misbehaves.
type wsBehavior struct {
	reject     int    // answer the upgrade with this status (401) instead
	jwtSecret  []byte // verify an HS256 token at the upgrade; close with 4401 at its exp
	noPong     bool   // never answer pings
	dropAfter  time.Duration
	tickEvery  time.Duration
	idleAfter  time.Duration
	tokenParam string // query parameter accepted instead of the Authorization header
	bigMessage int    // send one binary message of this many bytes right after the upgrade
}

// startWS serves a WebSocket scenario. With tlsName set it serves wss on a
// certificate for <tlsName>.lab.test; otherwise ws on 127.0.0.1.
func (l *Lab) startWS(tlsName, path string, b wsBehavior) (string, error) {
	h := l.wsHandler(b)
	if tlsName != "" {
		u, err := l.startHTTPS(tlsName, tlsOpts{chain: chainNormal, leaf: labLeaf(tlsName), h1Only: true, handler: h})
		if err != nil {
			return "", err
		}
		return "wss://" + strings.TrimSuffix(strings.TrimPrefix(u, "https://"), "/") + path, nil
	}
	u, err := l.startHTTP("127.0.0.1", h, httpOpts{})
	if err != nil {
		return "", err
	}
	return "ws://" + strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/") + path, nil
}

// writeJWTSecret writes a fresh random HS256 secret into the lab
// directory (mode 0600) and returns it.
func (l *Lab) writeJWTSecret() ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := []byte(hex.EncodeToString(raw))
	if err := os.WriteFile(filepath.Join(l.dir, WSJWTSecretFile), secret, 0o600); err != nil {
		return nil, fmt.Errorf("lab: write %s: %w", WSJWTSecretFile, err)
	}
	return secret, nil
}

func isWSUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsAccept is the Sec-WebSocket-Accept value for a key (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.New()
	h.Write([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// checkToken verifies the bearer token of r (header, or the query
// parameter) as an HS256 JWT with an exp claim, and returns its exp.
func checkToken(r *http.Request, secret []byte, param string) (time.Time, error) {
	tok := ""
	if scheme, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(v)
	}
	if tok == "" && param != "" {
		tok = r.URL.Query().Get(param)
	}
	if tok == "" {
		return time.Time{}, errors.New("no token")
	}
	t, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return time.Time{}, err
	}
	exp, err := t.Claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}, errors.New("no exp")
	}
	return exp.Time, nil
}

func (l *Lab) wsHandler(b wsBehavior) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.reject != 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pathlens-lab"`)
			http.Error(w, "lab: this WebSocket endpoint refuses every upgrade", b.reject)
			return
		}
		if !isWSUpgrade(r) {
			w.Header().Set("Upgrade", "websocket")
			http.Error(w, "lab: WebSocket endpoint; send an Upgrade: websocket request", http.StatusUpgradeRequired)
			return
		}
		var exp time.Time
		if b.jwtSecret != nil {
			var err error
			if exp, err = checkToken(r, b.jwtSecret, b.tokenParam); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pathlens-lab", error="invalid_token"`)
				http.Error(w, "lab: a valid HS256 token is required", http.StatusUnauthorized)
				return
			}
		}
		conn, brw, release, ok := l.hijack(w)
		if !ok {
			return
		}
		defer release()
		_ = conn.SetDeadline(time.Now().Add(rawConnLifetime))
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		if _, err := conn.Write([]byte(resp)); err != nil {
			return
		}
		l.wsSession(conn, brw.Reader, b, exp)
	})
}

// wsFrame is one frame as read from the client (payload unmasked).
type wsFrame struct {
	op      byte
	fin     bool
	payload []byte
}

// WebSocket opcodes.
const (
	wsOpCont   = 0x0
	wsOpText   = 0x1
	wsOpBinary = 0x2
	wsOpClose  = 0x8
	wsOpPing   = 0x9
	wsOpPong   = 0xA
)

func readWSFrame(br *bufio.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return wsFrame{}, err
	}
	f := wsFrame{op: h[0] & 0x0f, fin: h[0]&0x80 != 0}
	masked := h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > wsMaxFrame {
		return wsFrame{}, fmt.Errorf("frame of %d bytes is over the lab's limit", n)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(br, key[:]); err != nil {
			return wsFrame{}, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return wsFrame{}, err
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// writeWSFrame writes one unmasked, final frame (server to client).
func writeWSFrame(c net.Conn, op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	_ = c.SetWriteDeadline(time.Now().Add(writeStallTimeout))
	_, err := c.Write(append(hdr, payload...))
	return err
}

func closePayload(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

// wsSession serves one upgraded connection until the client closes it,
// the behaviour ends it or the lab closes.
func (l *Lab) wsSession(c net.Conn, br *bufio.Reader, b wsBehavior, exp time.Time) {
	stop := make(chan struct{})
	defer close(stop)
	frames, ok := l.readWSFrames(br, stop)
	if !ok {
		return
	}
	if b.bigMessage > 0 && writeWSFrame(c, wsOpBinary, make([]byte, b.bigMessage)) != nil {
		return
	}
	start := time.Now()
	clk := &wsClock{start: start, last: start, nextTick: start.Add(b.tickEvery)}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(clk.next(b, exp)))
		select {
		case <-l.done:
			return
		case f, ok := <-frames:
			if !ok {
				return // the client went away
			}
			clk.last = time.Now()
			if !answerWSFrame(c, f, b) {
				return
			}
		case <-timer.C:
			if !l.wsAct(c, frames, b, exp, clk) {
				return
			}
		}
	}
}

// readWSFrames reads the client's frames into the returned channel,
// closed when reading fails, until stop is closed. It is false when the
// lab is closing (and reads nothing).
func (l *Lab) readWSFrames(br *bufio.Reader, stop <-chan struct{}) (<-chan wsFrame, bool) {
	frames := make(chan wsFrame, 16)
	ok := l.spawn(func() {
		defer close(frames)
		for {
			f, err := readWSFrame(br)
			if err != nil {
				return
			}
			select {
			case frames <- f:
			case <-stop:
				return
			}
		}
	})
	return frames, ok
}

// wsClock is what a lab WebSocket session's behaviour times itself by.
type wsClock struct {
	start    time.Time // the upgrade
	last     time.Time // last frame either way (ws-idle)
	nextTick time.Time // the next "tick" message (ws-drop)
}

// next is when the behaviour next does something on its own.
func (k *wsClock) next(b wsBehavior, exp time.Time) time.Time {
	next := k.start.Add(time.Hour)
	if !exp.IsZero() && exp.Before(next) {
		next = exp
	}
	if b.dropAfter > 0 && k.start.Add(b.dropAfter).Before(next) {
		next = k.start.Add(b.dropAfter)
	}
	if b.idleAfter > 0 && k.last.Add(b.idleAfter).Before(next) {
		next = k.last.Add(b.idleAfter)
	}
	if b.tickEvery > 0 && k.nextTick.Before(next) {
		next = k.nextTick
	}
	return next
}

// answerWSFrame answers one client frame: data echoed, pings ponged
// (unless noPong), a close echoed. It is false when the session is over.
func answerWSFrame(c net.Conn, f wsFrame, b wsBehavior) bool {
	switch f.op {
	case wsOpText, wsOpBinary, wsOpCont:
		return writeWSFrame(c, f.op, f.payload) == nil
	case wsOpPing:
		return b.noPong || writeWSFrame(c, wsOpPong, f.payload) == nil
	case wsOpClose:
		// Echo the client's close and end the connection.
		_ = writeWSFrame(c, wsOpClose, f.payload)
		return false
	}
	return true
}

// wsAct does what the behaviour does when its time comes: close at the
// token's expiry, drop TCP, close an idle session or send a tick. It is
// false when the session is over.
func (l *Lab) wsAct(c net.Conn, frames <-chan wsFrame, b wsBehavior, exp time.Time, clk *wsClock) bool {
	now := time.Now()
	switch {
	case !exp.IsZero() && !now.Before(exp):
		l.wsCloseAndWait(c, frames, wsTokenExpiry, "token expired")
		return false
	case b.dropAfter > 0 && !now.Before(clk.start.Add(b.dropAfter)):
		// Drop TCP without a close frame: a reset, as a load
		// balancer or a crashed backend does it.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return false
	case b.idleAfter > 0 && !now.Before(clk.last.Add(b.idleAfter)):
		l.wsCloseAndWait(c, frames, wsIdleCode, "idle timeout")
		return false
	case b.tickEvery > 0 && !now.Before(clk.nextTick):
		if writeWSFrame(c, wsOpText, []byte("tick")) != nil {
			return false
		}
		clk.last = now
		clk.nextTick = clk.nextTick.Add(b.tickEvery)
	}
	return true
}

// wsCloseAndWait sends a close frame and waits briefly for the client's.
func (l *Lab) wsCloseAndWait(c net.Conn, frames <-chan wsFrame, code int, reason string) {
	if writeWSFrame(c, wsOpClose, closePayload(code, reason)) != nil {
		return
	}
	t := time.NewTimer(wsCloseWait)
	defer t.Stop()
	for {
		select {
		case f, ok := <-frames:
			if !ok || f.op == wsOpClose {
				return
			}
		case <-t.C:
			return
		case <-l.done:
			return
		}
	}
}
