package store

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// crashChildEnv names the database the crash-test child writes to.
const crashChildEnv = "PATHLENS_STORE_CRASH_CHILD_DB"

const crashBatch = 50

// TestCrashChild is the child process of TestCrash: it writes batches of
// crashBatch results forever, never closing the store, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process for TestCrash")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	// Guard against an orphan if the parent dies before killing us.
	stop := time.Now().Add(60 * time.Second)
	// Runs 10 s apart, on from the ones stored: an hour is rolled up
	// every 7.2 batches.
	var stored int
	if err := s.db.QueryRow("SELECT count(*) FROM runs").Scan(&stored); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	at := base.Add(time.Duration(stored) * 10 * time.Second)
	for time.Now().Before(stop) {
		recs := make([]Record, crashBatch)
		for i := range recs {
			at = at.Add(10 * time.Second)
			r := httpsResult(at, 1, 2, 3, 4)
			if i%7 == 0 {
				r = failedResult(at)
			}
			recs[i] = Record{Target: "api", Module: "web", Result: r}
		}
		if err := s.Write(ctx, recs); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
	}
	os.Exit(3)
}

// TestCrash kills a writing process with SIGKILL at random moments and
// checks that the database is intact and holds only whole batches.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	s, err := Open(path) // create it, so the poller below never sees an empty file
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	committed := 0
	for round := range 3 {
		seen, n := crashRound(t, path, committed, time.Duration(10+rng.IntN(191))*time.Millisecond)
		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		var check string
		if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		got := count(t, s, "SELECT count(*) FROM runs")
		phases := count(t, s, "SELECT coalesce(sum(json_array_length(h.phases)), 0) FROM runs r JOIN shapes h ON h.id = r.shape")
		t.Logf("round %d: killed with %d results seen (%d batches this round), %d after recovery", round, seen, n, got)
		if got%crashBatch != 0 {
			t.Errorf("round %d: %d results is not whole batches of %d", round, got, crashBatch)
		}
		if got < seen {
			t.Errorf("round %d: %d results after recovery, %d were committed before the kill", round, got, seen)
		}
		// Every result has its phases: 6 per success, 3 per failure.
		fails := (got / crashBatch) * ((crashBatch + 6) / 7)
		if want := (got-fails)*6 + fails*3; phases != want {
			t.Errorf("round %d: %d phases, want %d", round, phases, want)
		}
		// The documents, the latest run and the roll-ups were committed
		// in the same transactions as the runs.
		for q, want := range map[string]int{
			"SELECT count(*) FROM docs d JOIN runs r ON r.id = d.id JOIN shapes h ON h.id = r.shape WHERE NOT h.success": fails,
			"SELECT count(*) FROM docs WHERE id NOT IN (SELECT id FROM runs)":                                            0,
			"SELECT count(*) FROM docs WHERE base IS NOT NULL AND base NOT IN (SELECT id FROM doc_bases)":                0,
			"SELECT count(*) FROM latest WHERE run_id = (SELECT max(id) FROM runs)":                                      1,
			"SELECT coalesce(sum(runs), 0) FROM hours": count(t, s, `SELECT count(*) FROM runs
				WHERE (id & 8589934591) < (SELECT sealed_to FROM targets WHERE name = 'api')`),
			"SELECT count(*) FROM hours WHERE (id & 8589934591) >= (SELECT sealed_to FROM targets WHERE name = 'api')": 0,
		} {
			if n := count(t, s, q); n != want {
				t.Errorf("round %d: %s = %d, want %d", round, q, n, want)
			}
		}
		if round == 2 && count(t, s, "SELECT count(*) FROM hours") == 0 {
			t.Errorf("round %d: no hour rolled up", round)
		}
		s.Close()
		committed = got
	}
}

// crashRound runs the child until at least five more batches are
// committed, lets it write for delay more, kills it and returns the count
// of results it last saw committed.
func crashRound(t *testing.T, path string, before int, delay time.Duration) (seen, batches int) {
	t.Helper()
	poll, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer poll.Close()
	countNow := func() int {
		var n int
		if err := poll.QueryRow("SELECT count(*) FROM runs").Scan(&n); err != nil {
			t.Fatalf("poll: %v", err)
		}
		return n
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() {
		cmd.Process.Kill()
		<-exited
	}

	deadline := time.Now().Add(20 * time.Second)
	for countNow() < before+5*crashBatch {
		select {
		case err := <-exited:
			t.Fatalf("child exited early: %v\n%s", err, stderr.Bytes())
		default:
		}
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("child committed too little in 20 s\n%s", stderr.Bytes())
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(delay)
	seen = countNow()
	kill()
	if stderr.Len() > 0 && bytes.Contains(stderr.Bytes(), []byte("child:")) {
		t.Fatalf("child failed:\n%s", stderr.Bytes())
	}
	return seen, (seen - before) / crashBatch
}
