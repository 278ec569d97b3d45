package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// pruneRows is the most runs one prune transaction deletes: a prune holds
// the write lock for that long at most (tens of milliseconds), and batch
// writes go on in between. Tests lower it.
var pruneRows int64 = 20000

// Prune deletes the runs started before before (to the second), with
// their documents, and the hour roll-ups whose hour ended by then, target
// by target in transactions of at most pruneRows runs, each a range of
// ids. Finding spans keep their first_seen (when the finding was first
// noticed) but count only the runs still stored; a span left with none is
// deleted. Base documents no kept document needs, configs superseded
// before the cut and a latest document older than it go too. It returns
// the number of runs deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	return s.PruneKeeping(ctx, before, nil)
}

// PruneKeeping is Prune, except that the hour roll-ups of the targets
// named in hoursBefore are kept back to that target's own, earlier time:
// a target with a 30-day objective keeps 30 days of roll-ups (a few
// hundred bytes an hour) while its runs go after the retention. A time
// after before is ignored.
func (s *Store) PruneKeeping(ctx context.Context, before time.Time, hoursBefore map[string]time.Time) (int64, error) {
	cutSec := floorDiv(nanos(before), 1e9)
	if cutSec <= 0 {
		return 0, nil
	}
	tids, err := s.targetIDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	hourCuts := map[int64]int64{}
	for name, t := range hoursBefore {
		tid, ok, err := s.targetID(ctx, s.db, name)
		if err != nil {
			return 0, fmt.Errorf("store: prune: %w", err)
		}
		if sec := floorDiv(nanos(t), 1e9); ok && sec < cutSec {
			hourCuts[tid] = max(sec, 0)
		}
	}
	var total int64
	for i := 0; i < len(tids); {
		n, next, err := s.pruneChunk(ctx, tids, i, min(cutSec, secMask), hourCuts)
		total += n
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		i = next
	}
	if err := s.pruneLegacy(ctx); err != nil {
		return total, fmt.Errorf("store: prune: %w", err)
	}
	return total, nil
}

func (s *Store) targetIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM targets ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// pruneChunk prunes targets tids[i:] in one transaction until pruneRows
// runs are deleted, and returns the runs deleted and the index of the
// first target not done.
func (s *Store) pruneChunk(ctx context.Context, tids []int64, i int, cutSec int64, hourCuts map[int64]int64) (int64, int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, i, err
	}
	defer tx.Rollback()
	w := newWriteTx(ctx, s, tx)
	defer w.close()
	var deleted int64
	var pruned []int64
	for ; i < len(tids) && deleted < pruneRows; i++ {
		hourCut, ok := hourCuts[tids[i]]
		if !ok {
			hourCut = cutSec
		}
		n, done, err := w.pruneTarget(tids[i], cutSec, hourCut, pruneRows-deleted)
		if err != nil {
			return 0, i, err
		}
		deleted += n
		pruned = append(pruned, tids[i])
		if !done {
			break // the rest of this target in the next transaction
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, i, err
	}
	// A target whose newest run went is read afresh by its next write.
	for _, tid := range pruned {
		if st := s.dict.states[tid]; st != nil && st.lastID < runID(tid, cutSec) {
			delete(s.dict.states, tid)
		}
	}
	return deleted, i, nil
}

// pruneTarget deletes up to budget of target tid's runs before second
// cutSec, with what goes with them, and its hour roll-ups of the hours
// that ended by second hourCut; done reports whether no run is left.
func (w *writeTx) pruneTarget(tid, cutSec, hourCut, budget int64) (deleted int64, done bool, err error) {
	lo, hi := targetRange(tid)
	cutID := runID(tid, cutSec)
	if _, err := w.exec(`DELETE FROM hours WHERE id >= ? AND id <= ?`, lo, runID(tid, max(hourCut-3600, 0))); err != nil {
		return 0, false, err
	}
	var oldest int64
	switch err := w.queryRow(`SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 1`, lo, hi).Scan(&oldest); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, true, w.pruneTargetRest(tid, cutID)
	case err != nil:
		return 0, false, err
	case oldest >= cutID:
		return 0, true, nil
	}
	end := cutID
	switch err := w.queryRow(`SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 1 OFFSET ?`, lo, cutID, budget).Scan(&end); {
	case errors.Is(err, sql.ErrNoRows):
		done = true
	case err != nil:
		return 0, false, err
	}
	if err := w.pruneSpans(tid, lo, end); err != nil {
		return 0, false, err
	}
	res, err := w.exec(`DELETE FROM runs WHERE id >= ? AND id < ?`, lo, end)
	if err != nil {
		return 0, false, err
	}
	if deleted, err = res.RowsAffected(); err != nil {
		return 0, false, err
	}
	if _, err := w.exec(`DELETE FROM docs WHERE id >= ? AND id < ?`, lo, end); err != nil {
		return 0, false, err
	}
	if done {
		err = w.pruneTargetRest(tid, cutID)
	}
	return deleted, done, err
}

// pruneSpans uncounts target tid's runs with ids in [lo, end) from its
// finding spans, and deletes the spans left without runs.
func (w *writeTx) pruneSpans(tid, lo, end int64) error {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT shape, count(*) FROM runs WHERE id >= ? AND id < ? GROUP BY shape`, lo, end)
	if err != nil {
		return err
	}
	counts := map[int64]int64{}
	for rows.Next() {
		var shape, n int64
		if err := rows.Scan(&shape, &n); err != nil {
			rows.Close()
			return err
		}
		counts[shape] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	gone := map[string]int64{}
	for id, n := range counts {
		sh, err := w.shape(id)
		if err != nil {
			return err
		}
		for _, f := range sh.Findings {
			gone[f.ID] += n
		}
	}
	for id, n := range gone {
		if _, err := w.exec(`UPDATE spans SET runs = runs - ? WHERE target_id = ? AND id = ?`, n, tid, id); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		_, err = w.exec(`DELETE FROM spans WHERE target_id = ? AND runs <= 0`, tid)
	}
	return err
}

// pruneTargetRest deletes what of target tid no run from cutID on needs:
// its latest document if older, base documents no kept document refers
// to (but the two latest, while the target has runs), and configs
// superseded before cutID.
func (w *writeTx) pruneTargetRest(tid, cutID int64) error {
	lo, hi := targetRange(tid)
	if _, err := w.exec(`DELETE FROM latest WHERE target_id = ? AND run_id < ?`, tid, cutID); err != nil {
		return err
	}
	var one int
	switch err := w.queryRow(`SELECT 1 FROM runs WHERE id >= ? AND id < ? LIMIT 1`, cutID, hi).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		// No run left: the bases go, and the next run starts afresh.
		if _, err := w.exec(`UPDATE targets SET base = NULL WHERE id = ?`, tid); err != nil {
			return err
		}
		if _, err := w.exec(`DELETE FROM doc_bases WHERE id >= ? AND id < ?`, lo, hi); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if _, err := w.exec(`DELETE FROM doc_bases WHERE id >= ?1 AND id < ?2
			AND id != coalesce((SELECT base FROM targets WHERE id = ?4), 0)
			AND id != coalesce((SELECT max(id) FROM doc_bases WHERE id >= ?1 AND id < ?3
				AND id != coalesce((SELECT base FROM targets WHERE id = ?4), 0)), 0)
			AND id NOT IN (SELECT base FROM docs WHERE id >= ?1 AND id < ?3 AND base IS NOT NULL)`, lo, cutID, hi, tid); err != nil {
			return err
		}
	}
	_, err := w.exec(`DELETE FROM configs WHERE id >= ?1
		AND id < (SELECT max(id) FROM configs WHERE id >= ?1 AND id <= ?2)`, lo, cutID)
	return err
}

// pruneLegacy deletes the old ids of runs no longer stored.
func (s *Store) pruneLegacy(ctx context.Context) error {
	for {
		s.wmu.Lock()
		res, err := s.db.ExecContext(ctx, `DELETE FROM legacy_ids WHERE id IN (SELECT l.id FROM legacy_ids l
			WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = l.run_id) LIMIT ?)`, pruneRows)
		s.wmu.Unlock()
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n < pruneRows {
			return err
		}
	}
}
