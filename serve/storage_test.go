package serve

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/serve/store"
)

// runUntilReady runs serve and stops it as soon as it listens: for
// configurations that must fail at start, so that a regression fails the
// test instead of serving forever.
func runUntilReady(t *testing.T, cfg string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := false
	err := Run(ctx, Options{ConfigPath: cfg, Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(string) { started = true; cancel() }})
	if started {
		t.Fatalf("serve started (and stopped with %v); want it refused at start", err)
	}
	return err
}

// refusedConfig writes a config with one target on a closed port (every
// run fails fast and is stored) and the database at db.
func refusedConfig(t *testing.T, db string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pathlens.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nstorage: {path: %s}\ndefaults: {interval: 1s, timeout: 500ms}\n"+
		"targets:\n  - {name: down, url: \"http://%s/\"}\n", db, probetest.ClosedPort(t))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A damaged database stops serve at start with exit status 3 (a
// ConfigError) and the store's message, instead of a server that drops
// every batch.
func TestServeCorruptDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pathlens.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Not an SQLite file at all: the smallest damage there is.
	if err := os.WriteFile(db, bytes.Repeat([]byte("garbage!"), 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	err = runUntilReady(t, refusedConfig(t, db))
	var ce *ConfigError
	var corrupt *store.CorruptError
	if !errors.As(err, &ce) || !errors.As(err, &corrupt) {
		t.Fatalf("Run = %T %v, want a ConfigError wrapping a *store.CorruptError", err, err)
	}
	if !strings.HasPrefix(err.Error(), "serve: store: "+db+" is corrupt (") || !strings.Contains(err.Error(), ".recover") {
		t.Errorf("error %q", err)
	}
}

var storeErrorsLine = regexp.MustCompile(`(?m)^pathlens_store_write_errors_total (\d+)$`)

func storeWriteErrors(t *testing.T, base string) int {
	t.Helper()
	_, body := get(t, base+"/metrics")
	m := storeErrorsLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no pathlens_store_write_errors_total:\n%s", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// When the database stops taking writes, /healthz says so (503 with the
// reason) and pathlens_store_write_errors_total counts the lost batches;
// when writes work again, /healthz is ok again.
func TestServeWriteFailures(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pathlens.db")
	logs := &probetest.SyncBuffer{}
	base, _ := startRun(t, Options{ConfigPath: refusedConfig(t, db), Logger: slog.New(slog.NewTextHandler(logs, nil)), Grace: time.Second})

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if n := storeWriteErrors(t, base); n != 0 {
		t.Fatalf("pathlens_store_write_errors_total = %d at start", n)
	}
	// Make SQLite itself refuse every result (real writes, failing in the
	// database), through a second connection as another tool would.
	raw, err := sql.Open("sqlite", db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER fail_writes BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	var body string
	eventually(t, "/healthz to report failing writes", func() bool {
		var code int
		code, body = get(t, base+"/healthz")
		return code == 503
	})
	if !regexp.MustCompile(`^store: writes failing since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: write: .*disk on fire.*\n$`).MatchString(body) ||
		strings.Count(body, "\n") != 1 {
		t.Errorf("/healthz body %q, want one line naming the time and the error", body)
	}
	if n := storeWriteErrors(t, base); n < 1 {
		t.Errorf("pathlens_store_write_errors_total = %d while writes fail", n)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Error("the failed writes were not logged")
	}

	if _, err := raw.Exec(`DROP TRIGGER fail_writes`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/healthz to recover", func() bool {
		code, body := get(t, base+"/healthz")
		return code == 200 && body == "ok\n"
	})
	if n := storeWriteErrors(t, base); n < 1 {
		t.Errorf("pathlens_store_write_errors_total = %d after recovery, want the count kept", n)
	}
}
