package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pathlens/pathlens/internal/probetest"
)

// serve with WebSocket targets whose tokens come from a bearer file and
// from JWTs minted with a secret file (in the header and as a query
// parameter): sessions are held, the ws metrics appear, and neither the
// tokens nor the secret reach the log, a page, the API, /metrics, /probe
// or the SQLite files.
func TestServeWSSecrets(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if q := r.URL.Query().Get("access_token"); q != "" {
			tok = q
		}
		mu.Lock()
		seen = append(seen, tok)
		mu.Unlock()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, b) != nil {
				return
			}
		}
	}))
	defer ws.Close()
	wsURL := "ws" + strings.TrimPrefix(ws.URL, "http")

	dir := t.TempDir()
	const bearer = "srv-b3arer-51c7e0a92d4f"
	const secret = "srv-hs256-secret-9e4b21d07c3a"
	os.WriteFile(filepath.Join(dir, "bearer"), []byte(bearer+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "jwt.secret"), []byte(secret), 0o600)
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
storage: {path: %s}
defaults: {interval: 2s, timeout: 1s}
modules:
  fixed: {kind: ws, ws: {bearer_file: bearer, send: hello, ping_interval: 100ms, hold: 500ms}}
  minted: {kind: ws, ws: {jwt: {secret_file: jwt.secret, claims: {sub: probe}, ttl: 1m}, hold: 300ms}}
  query: {kind: ws, ws: {jwt: {secret_file: jwt.secret}, token_param: access_token}}
targets:
  - {name: fixed, url: %q, module: fixed}
  - {name: minted, url: %q, module: minted}
  - {name: query, url: %q, module: query}
probe_endpoint: {allow: ["ws://127.0.0.1:*"], modules: [query]}
`, filepath.Join(dir, "h.db"), wsURL+"/a", wsURL+"/b", wsURL+"/c")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)

	logs := &probetest.SyncBuffer{}
	var out bytes.Buffer
	base, stop := startRun(t, Options{ConfigPath: cfgPath, Stdout: &out,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Grace: 2 * time.Second})
	eventually(t, "every ws target probed", func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `pathlens_probe_success{module="fixed",target="fixed"} 1`) &&
			strings.Contains(body, `pathlens_probe_success{module="minted",target="minted"} 1`) &&
			strings.Contains(body, `pathlens_probe_success{module="query",target="query"} 1`)
	})
	var runs []string // a stored run of each target
	eventually(t, "the first runs stored", func() bool {
		runs = runs[:0]
		for _, name := range []string{"fixed", "minted", "query"} {
			var got []struct{ ID int64 }
			if code, body := get(t, base+"/api/v1/targets/"+name+"/results?limit=1"); code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got) == 0 {
				return false
			}
			runs = append(runs, fmt.Sprintf("/runs/%d", got[0].ID))
		}
		return true
	})
	var texts []string
	_, metrics := get(t, base+"/metrics")
	texts = append(texts, metrics)
	for _, want := range []string{`pathlens_ws_ping_rtt_seconds_count{module="fixed",target="fixed"}`,
		`pathlens_ws_session_seconds_count{module="minted",target="minted"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, p := range append([]string{"/", "/targets/fixed", "/targets/minted", "/targets/query", "/findings",
		"/api/v1/targets", "/api/v1/targets/fixed/results", "/api/v1/targets/query/results",
		"/probe?module=query&target=" + url.QueryEscape(wsURL+"/p")}, runs...) {
		code, body := get(t, base+p)
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		texts = append(texts, body)
	}
	_, page := get(t, base+"/targets/fixed")
	if !strings.Contains(page, "WebSocket session") || !strings.Contains(page, "sha256:") {
		t.Errorf("the fixed target's page lacks the session or the fingerprint")
	}

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	texts = append(texts, logs.String(), out.String())
	files, _ := filepath.Glob(filepath.Join(dir, "h.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		texts = append(texts, string(b))
	}
	mu.Lock()
	secrets := append([]string{bearer, secret}, seen...)
	mu.Unlock()
	if len(secrets) < 5 {
		t.Fatalf("the server saw %d upgrades", len(secrets)-2)
	}
	for _, s := range secrets {
		if s == "" {
			t.Error("an upgrade carried no token")
			continue
		}
		for i, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret %.10s… found in text %d", s, i)
			}
		}
	}
}
