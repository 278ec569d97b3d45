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
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\ndefaults: {interval: 1s, timeout: 900ms}\n"+
		"modules:\n  t: {kind: tls, tls: {ca_file: %s}}\ntargets:\n  - {name: tls, url: \"tls://%s\", module: t}\n",
		filepath.Join(dir, "h.db"), ca, srv.Listener.Addr())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
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
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "pathlens.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\nmodules:\n  t: {kind: tls, tls: {ca_file: %s}}\n"+
		"probe_endpoint: {allow: [\"tls://127.0.0.1:*\"], modules: [t]}\n", filepath.Join(dir, "h.db"), ca)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
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
