package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
)

// dict is the Store's in-memory copy of the small tables that every run
// names by id: target names and shapes, and per target what the next
// run's write needs (its newest run, roll-up and base state). It holds
// only committed rows: a write transaction works on its own copies and
// merges them in after its commit, so a failed batch leaves no trace.
type dict struct {
	mu       sync.RWMutex
	ids      map[string]int64 // target name → id
	names    map[int64]string
	shapeIDs map[string]int64 // shape.key() → id
	shapes   map[int64]*shape
	// states is read and written only under Store.wmu.
	states map[int64]*targetState
}

func newDict() *dict {
	return &dict{ids: map[string]int64{}, names: map[int64]string{}, shapeIDs: map[string]int64{},
		shapes: map[int64]*shape{}, states: map[int64]*targetState{}}
}

// targetState is what writing a run needs to know of its target.
type targetState struct {
	id        int64
	lastID    int64 // the newest run (0: none)
	lastShape int64
	sealedTo  int64 // unix second on the hour: the hours before it are rolled up in hours
	base      int64 // doc_bases id of the current base (0: none)
	alt       int64 // the base before it (0: none)
	module    string
	url       string
	hasConfig bool
}

// targetID returns the id of target name, false when it has none.
func (s *Store) targetID(ctx context.Context, q querier, name string) (int64, bool, error) {
	s.dict.mu.RLock()
	id, ok := s.dict.ids[name]
	s.dict.mu.RUnlock()
	if ok {
		return id, true, nil
	}
	err := q.QueryRowContext(ctx, `SELECT id FROM targets WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if q == s.db { // a transaction's view may still roll back
		s.dict.remember(name, id)
	}
	return id, true, nil
}

// targetName returns the name of target tid.
func (s *Store) targetName(ctx context.Context, tid int64) (string, error) {
	s.dict.mu.RLock()
	name, ok := s.dict.names[tid]
	s.dict.mu.RUnlock()
	if ok {
		return name, nil
	}
	if err := s.db.QueryRowContext(ctx, `SELECT name FROM targets WHERE id = ?`, tid).Scan(&name); err != nil {
		return "", fmt.Errorf("target %d: %w", tid, err)
	}
	s.dict.remember(name, tid)
	return name, nil
}

func (d *dict) remember(name string, id int64) {
	d.mu.Lock()
	d.ids[name], d.names[id] = id, name
	d.mu.Unlock()
}

// shapeByID returns shape id, reading it through q when it is not known.
func (s *Store) shapeByID(ctx context.Context, q querier, id int64) (*shape, error) {
	s.dict.mu.RLock()
	sh, ok := s.dict.shapes[id]
	s.dict.mu.RUnlock()
	if ok {
		return sh, nil
	}
	sh = new(shape)
	var phases, findings string
	if err := q.QueryRowContext(ctx, `SELECT kind, success, error_class, error_phase, phases, incomplete, findings
		FROM shapes WHERE id = ?`, id).Scan(&sh.Kind, &sh.Success, &sh.ErrClass, &sh.ErrPhase, &phases, &sh.Incomplete, &findings); err != nil {
		return nil, fmt.Errorf("shape %d: %w", id, err)
	}
	if err := json.Unmarshal([]byte(phases), &sh.Phases); err != nil {
		return nil, fmt.Errorf("shape %d: %w", id, err)
	}
	if err := json.Unmarshal([]byte(findings), &sh.Findings); err != nil {
		return nil, fmt.Errorf("shape %d: %w", id, err)
	}
	if q == s.db {
		s.dict.mu.Lock()
		s.dict.shapes[id], s.dict.shapeIDs[sh.key()] = sh, id
		s.dict.mu.Unlock()
	}
	return sh, nil
}

// commit merges a committed transaction's new names, shapes and target
// states.
func (d *dict) commit(names map[string]int64, shapes map[string]int64, byID map[int64]*shape, states map[int64]*targetState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, id := range names {
		d.ids[n], d.names[id] = id, n
	}
	maps.Copy(d.shapeIDs, shapes)
	maps.Copy(d.shapes, byID)
	maps.Copy(d.states, states)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadState reads target tid's write state.
func loadState(ctx context.Context, q querier, tid int64) (*targetState, error) {
	st := &targetState{id: tid}
	var base sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT sealed_to, base FROM targets WHERE id = ?`, tid).Scan(&st.sealedTo, &base); err != nil {
		return nil, err
	}
	st.base = base.Int64
	lo, hi := targetRange(tid)
	var alt sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(id) FROM doc_bases WHERE id >= ? AND id < ? AND id != ?`, lo, hi, st.base).Scan(&alt); err != nil {
		return nil, err
	}
	st.alt = alt.Int64
	err := q.QueryRowContext(ctx, `SELECT id, shape FROM runs WHERE id >= ? AND id < ? ORDER BY id DESC LIMIT 1`, lo, hi).
		Scan(&st.lastID, &st.lastShape)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	err = q.QueryRowContext(ctx, `SELECT module, url FROM configs WHERE id >= ? AND id < ? ORDER BY id DESC LIMIT 1`, lo, hi).
		Scan(&st.module, &st.url)
	switch {
	case err == nil:
		st.hasConfig = true
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	return st, nil
}
