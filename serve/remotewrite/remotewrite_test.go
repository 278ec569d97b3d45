package remotewrite

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/exp/api/remote"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/remotewrite/prompb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(at time.Time, ok bool) *probe.Result {
	r := &probe.Result{Kind: "https", StartedAt: at, Success: ok, TotalMS: 12.5,
		Phases: []probe.Phase{{Name: "connect", DurationMS: 2}, {Name: "tls", DurationMS: 10.5, Incomplete: !ok}}}
	if !ok {
		r.Findings = []probe.Finding{{ID: "TLS_HANDSHAKE_TIMEOUT", Severity: probe.SeverityCritical}}
	}
	return r
}

// A real Prometheus (Debian prometheus, --web.enable-remote-write-receiver)
// stores what the Writer sends: the queried series carry the target's
// labels and the run's values at the run's time.
func TestRealPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not on PATH (Debian: apt-get install prometheus)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	waitReady(t, base+"/-/ready", &logs)

	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte("not-checked-by-prometheus\n"), 0o600)
	w, err := New([]Config{{URL: base + "/api/v1/write", BearerTokenFile: tokFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	w.Observe("api", "web", map[string]string{"team": "shop"}, run(at, true))
	w.Observe("api", "web", map[string]string{"team": "shop"}, run(at.Add(30*time.Second), false))

	query := func(q string) []map[string]any {
		resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q) + "&time=" + fmt.Sprint(at.Add(45*time.Second).Unix()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Result []map[string]any `json:"result"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Data.Result
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(query(`pathlens_probe_success{target="api"}`)) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	res := query(`pathlens_probe_success{target="api",module="web",team="shop"}`)
	if len(res) != 1 || res[0]["value"].([]any)[1] != "0" {
		t.Fatalf("pathlens_probe_success at the second run: %v\nprometheus: %s", res, logs.String())
	}
	if res := query(`pathlens_finding_active{target="api",id="TLS_HANDSHAKE_TIMEOUT",severity="critical"}`); len(res) != 1 {
		t.Errorf("finding: %v", res)
	}
	// The failed run's tls phase was incomplete: only connect is sent for it.
	if res := query(`pathlens_probe_last_phase_duration_seconds{target="api",phase="tls"}`); len(res) != 1 || res[0]["value"].([]any)[1] != "0.0105" {
		t.Errorf("tls phase (from the first run only): %v", res)
	}
	if st := w.Stats(); st.Samples < 7 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The token goes with every request, read from its file each time; the
// URL's query stays out of the log; a receiver that refuses counts as
// failed after the retries, and the queue is bounded.
func TestTokenRetryAndBounds(t *testing.T) {
	defer func(b remote.BackoffConfig) { backoff = b }(backoff)
	backoff = remote.BackoffConfig{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxRetries: 2}
	var mu sync.Mutex
	var auths []string
	var series int
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auths = append(auths, r.Header.Get("Authorization"))
		if fail {
			http.Error(rw, "no", http.StatusBadRequest) // not retried
			return
		}
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var req prompb.WriteRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		series += len(req.Timeseries)
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte("first"), 0o600)
	var logBuf strings.Builder
	w, err := New([]Config{{URL: srv.URL + "/write?secret=s3cr3t", BearerTokenFile: tok}}, slogTo(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	w.Observe("a", "m", nil, run(time.Now(), true))
	eventually(t, func() bool { return w.Stats().Failed > 0 })
	mu.Lock()
	fail = false
	mu.Unlock()
	os.WriteFile(tok, []byte("second"), 0o600)
	w.Observe("a", "m", nil, run(time.Now(), true))
	eventually(t, func() bool { return w.Stats().Samples > 0 })
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if auths[0] != "Bearer first" || auths[len(auths)-1] != "Bearer second" {
		t.Errorf("authorizations %q", auths)
	}
	if series != 4 {
		t.Errorf("%d series received, want 4 (success, duration, connect and tls phases)", series)
	}
	if strings.Contains(logBuf.String(), "s3cr3t") {
		t.Errorf("the log shows the URL's secret: %s", logBuf.String())
	}

	// Nobody sending: the queue keeps at most QueueSeries, the newest.
	w2, _ := New([]Config{{URL: "http://127.0.0.1:1/write"}}, nil)
	s := w2.senders[0]
	w2.Close() // stop the loop first, then fill the queue
	for i := 0; i < QueueSeries/3+10; i++ {
		s.enqueue(Series("t", "m", nil, run(time.Now(), true)))
	}
	if n := s.queued(); n > QueueSeries || n < QueueSeries*9/10 || w2.Stats().Dropped == 0 {
		t.Errorf("queue %d, dropped %d", n, w2.Stats().Dropped)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
		msg   string
	}{
		{Config{URL: "ftp://h/x"}, "url", "want an http or https URL"},
		{Config{URL: "http://u:pw@h/x"}, "url", "bearer_token_file"},
		{Config{URL: "http://h/x", BearerTokenFile: "/nonexistent"}, "bearer_token_file", "/nonexistent"},
		{Config{URL: "/relative"}, "url", "with a host"},
	} {
		field, err := c.cfg.Check()
		if err == nil || field != c.field || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%+v: %s %v", c.cfg, field, err)
		}
	}
	if _, err := (Config{URL: "https://h/api/v1/write"}).Check(); err != nil {
		t.Error(err)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, u string, logs fmt.Stringer) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("prometheus not ready: %s", logs.String())
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
