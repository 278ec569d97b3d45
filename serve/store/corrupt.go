package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// CorruptError is returned by Open when the database file is damaged:
// PRAGMA quick_check found a problem, or SQLite refused the file as
// malformed or not a database. A damaged database would open and then
// fail every write, losing every run for as long as pathlens ran; failing
// at start makes the damage seen, and the message says how to recover.
type CorruptError struct {
	Path   string // the database file
	Detail string // what quick_check or SQLite reported, on one line
}

func (e *CorruptError) Error() string {
	q := shellQuote(e.Path)
	return fmt.Sprintf("store: %s is corrupt (%s): stop pathlens, move the file (and its -wal and -shm files) aside "+
		"and start again to begin a new history, or recover what is readable with: sqlite3 %s .recover | sqlite3 new.db",
		e.Path, e.Detail, q)
}

// quickCheckLines is how many problems quick_check reports in a
// CorruptError; the rest are left out (sqlite3 can list them all).
const quickCheckLines = 3

// quickCheck runs PRAGMA quick_check (the b-tree structure, without
// cross-checking indexes against tables, so it reads the file once). It
// returns a *CorruptError when the database is damaged.
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return corruptOr(path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() && len(problems) < quickCheckLines {
		var line string
		if err := rows.Scan(&line); err != nil {
			return corruptOr(path, err)
		}
		if line == "ok" {
			return nil
		}
		problems = append(problems, oneLine(line))
	}
	if err := rows.Err(); err != nil {
		return corruptOr(path, err)
	}
	if len(problems) == 0 {
		return &CorruptError{Path: path, Detail: "quick_check returned nothing"}
	}
	return &CorruptError{Path: path, Detail: "quick_check: " + strings.Join(problems, "; ")}
}

// corruptOr returns a *CorruptError for SQLite's "malformed" and "not a
// database" errors, and err itself otherwise.
func corruptOr(path string, err error) error {
	if isCorrupt(err) {
		return &CorruptError{Path: path, Detail: oneLine(err.Error())}
	}
	return err
}

// isCorrupt reports whether err is SQLite saying the file is damaged.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// oneLine folds s onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// shellQuote quotes path for a POSIX shell when it needs it.
func shellQuote(path string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,", r)
	}
	if path != "" && strings.IndexFunc(path, func(r rune) bool { return !safe(r) }) < 0 {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
