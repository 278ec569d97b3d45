package serve

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/serve/store"
)

// TestScheduledResumptionCadence: scheduled probes of a TLS target open
// the resumption check's second connection on the first run only; later
// runs carry its verdict, so TLS_NO_RESUMPTION stays active at one
// connection per run.
func TestScheduledResumptionCadence(t *testing.T) {
	srv, conns := probetest.NoResumptionTLSServer(t)
	dir := t.TempDir()
	cfgPath := noResumptionConfig(t, dir, srv.Certificate().Raw, "defaults: {interval: 1s, timeout: 900ms}\n"+
		"targets:\n  - {name: tls, url: \"tls://"+srv.Listener.Addr().String()+"\", module: t}\n")
	base, stop := startRun(t, Options{ConfigPath: cfgPath, Grace: time.Second})
	runsRE := regexp.MustCompile(`(?m)^pathlens_probe_runs_total\{module="t",result="success",target="tls"\} (\d+)$`)
	var runs int
	eventually(t, "three runs with TLS_NO_RESUMPTION", func() bool {
		_, body := get(t, base+"/metrics")
		m := runsRE.FindStringSubmatch(body)
		if m == nil {
			return false
		}
		runs, _ = strconv.Atoi(m[1])
		return runs >= 3 && regexp.MustCompile(`pathlens_finding_active\{id="TLS_NO_RESUMPTION",[^}]*target="tls"\} 1`).MatchString(body)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Results(context.Background(), "tls", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every run is stored (shutdown lets in-flight runs finish); the
	// server has counted every connection once the probes ended.
	if got, want := conns.Load(), int64(len(stored))+1; got != want {
		t.Errorf("connections = %d after %d runs, want %d (one per run and one resumption check)", got, len(stored), want)
	}
}

// TestProbeEndpointResumptionCadence: /probe remembers the resumption
// verdict per module and target as scheduled targets do, so a scraper
// calling it again and again opens one connection per call after the
// first, and every call still reports TLS_NO_RESUMPTION.
func TestProbeEndpointResumptionCadence(t *testing.T) {
	srv, conns := probetest.NoResumptionTLSServer(t)
	cfgPath := noResumptionConfig(t, t.TempDir(), srv.Certificate().Raw, "probe_endpoint: {allow: [\"tls://127.0.0.1:*\"], modules: [t]}\n")
	base, stop := startRun(t, Options{ConfigPath: cfgPath, Grace: time.Second})
	const calls = 4
	for i := range calls {
		code, body := get(t, base+"/probe?module=t&target=tls://"+srv.Listener.Addr().String())
		if code != 200 || !regexp.MustCompile(`(?m)^pathlens_finding_active\{id="TLS_NO_RESUMPTION",[^}]*\} 1$`).MatchString(body) {
			t.Fatalf("call %d: /probe = %d without TLS_NO_RESUMPTION:\n%s", i, code, body)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := conns.Load(), int64(calls+1); got != want {
		t.Errorf("connections = %d after %d /probe calls, want %d (one per call and one resumption check)", got, calls, want)
	}
}

// noResumptionConfig writes, in dir, the server certificate cert as a CA
// file and a config with a tls module t that trusts it, storage h.db and
// the rest given; it returns the config's path.
func noResumptionConfig(t *testing.T, dir string, cert []byte, rest string) string {
	t.Helper()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pathlens.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\nmodules:\n  t: {kind: tls, tls: {ca_file: %s}}\n%s", filepath.Join(dir, "h.db"), ca, rest)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
