package store

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filledDB creates a database with n results at path and closes it (its
// log checkpointed into the file).
func filledDB(t *testing.T, path string, n int) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Target: "api", Module: "web", Result: httpsResult(base.Add(time.Duration(i)*time.Second), 1, 2, 3, 4)}
	}
	write(t, s, recs...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("%s-wal left after Close: the garbage below could be shadowed by the log", path)
	}
}

// overwrite writes n garbage bytes into path at off.
func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), off); err != nil {
		t.Fatal(err)
	}
}

// leafPage is the number of a leaf page of table, from a database
// closed at path.
func leafPage(t *testing.T, path, table string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var page int64
	if err := db.QueryRow(`SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno LIMIT 1`, table).Scan(&page); err != nil {
		t.Fatal(err)
	}
	return page
}

func TestOpenCorruptPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pathlens.db")
	filledDB(t, path, 300)
	if fi, err := os.Stat(path); err != nil || fi.Size() < 16*4096 {
		t.Fatalf("database too small to corrupt its middle: %v, %v", fi.Size(), err)
	}
	overwrite(t, path, 4096*(leafPage(t, path, "sqlite_autoindex_targets_1")-1), 4096) // the index of target names

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database with a garbage page")
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %T %v, want a *CorruptError", err, err)
	}
	if ce.Path != path || !strings.HasPrefix(ce.Detail, "quick_check: ") || strings.Contains(ce.Detail, "\n") {
		t.Errorf("CorruptError = %+v", ce)
	}
	msg := err.Error()
	for _, want := range []string{
		"store: " + path + " is corrupt (quick_check: ",
		"stop pathlens, move the file (and its -wal and -shm files) aside and start again to begin a new history",
		"sqlite3 " + path + " .recover | sqlite3 new.db",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	t.Log(msg)

	// The failed Open released its lock: the same answer again, not "in use".
	if _, err := Open(path); !errors.As(err, &ce) {
		t.Errorf("second Open = %v, want a *CorruptError again", err)
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "it's.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %T %v, want a *CorruptError", err, err)
	}
	if !strings.Contains(err.Error(), "not a database") {
		t.Errorf("error %q does not say what SQLite found", err)
	}
	if want := `sqlite3 '` + strings.ReplaceAll(path, "'", `'\''`) + `' .recover`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks the quoted command %q", err, want)
	}
}

// A healthy existing database and a new (empty) file both open.
func TestOpenChecksOnlyExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pathlens.db")
	filledDB(t, path, 50)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 50 {
		t.Errorf("%d results, want 50", n)
	}
	s.Close()

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(empty)
	if err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
	s.Close()
}
