// Package store keeps the probe history of `pathlens serve` in SQLite
// (modernc.org/sqlite, no cgo) in WAL mode, sized for a run a minute of
// 100,000 targets: every run as a compact row (time, success, total and
// phase durations, error class and phase, finding ids), the whole Result
// only where it says something new (failures, changes, a sample an hour,
// each target's latest run), compressed against an earlier document of its
// target, and per-hour DDSketch roll-ups per target and phase so that
// percentiles over 1 h, 24 h and 7 d answer quickly. Runs are written in
// batches (one transaction per batch) and pruned by retention.
//
// One Store owns its file: Open locks it against a second pathlens and
// refuses a damaged database, the Writer reports failing writes (Health,
// FailedBatches) so that a history being lost is seen, and HTTP/2 frame
// timelines are stored bounded so that a hostile server cannot inflate the
// database.
package store

import (
	"time"

	"github.com/pathlens/pathlens/probe"
)

// Record is one probe result to store.
type Record struct {
	Target string // target name from the config
	Module string
	Result *probe.Result
}

// StoredResult is a Result read back, with its run id.
type StoredResult struct {
	ID     int64
	Target string
	Module string
	Result *probe.Result
	// Full reports whether Result is the whole Result as the probe made
	// it (HTTP/2 timeline bounded; see compactH2). The store keeps the
	// whole Result of a target's first run, its latest run, every failed
	// run, every run whose shape changed from the run before it (success,
	// error class or phase, kind, phase names, finding ids or severities)
	// or whose module or URL changed, and the first run of each hour (at
	// an offset into the hour of the target's own). For the other runs
	// Full is false and Result holds what every run keeps: schema, target
	// (URL), kind, started_at (to the microsecond), success, total_ms,
	// phases (names, durations, incomplete; start_ms laid end to end from
	// 0), error class and phase (no message or cause) and findings (id,
	// severity and phase).
	Full bool
}

// Quantiles are percentile estimates in milliseconds over some window.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
}

// PhaseSeries is one phase's quantiles per time bucket.
type PhaseSeries struct {
	Phase   string      `json:"phase"` // a phase name, or "total"
	Overall Quantiles   `json:"overall"`
	Buckets []Quantiles `json:"buckets"` // len = Report.Buckets; Count 0 where no data
}

// Report answers a percentile query for one target.
type Report struct {
	Target      string        `json:"target"`
	Window      string        `json:"window"` // e.g. "1h"
	From        time.Time     `json:"from"`
	To          time.Time     `json:"to"`
	BucketWidth time.Duration `json:"bucket_width_ns"`
	Buckets     int           `json:"buckets"` // 60
	// Phases in canonical order (dns, connect, tls, request, wait,
	// transfer, …), then "total"; only phases that have data.
	Phases []PhaseSeries `json:"phases"`
	// Success ratio over the window (0..1) and run counts.
	Runs         int     `json:"runs"`
	Successes    int     `json:"successes"`
	SuccessRatio float64 `json:"success_ratio"`
}

// FindingSpan tells when a finding was first and last seen for a target,
// and whether the latest run still shows it.
type FindingSpan struct {
	Target    string        `json:"target"`
	Finding   probe.Finding `json:"finding"` // as in the latest run that had it
	FirstSeen time.Time     `json:"first_seen"`
	LastSeen  time.Time     `json:"last_seen"`
	Active    bool          `json:"active"`
	Runs      int           `json:"runs"` // how many stored runs had it
}

// Windows are the percentile windows the API and UI offer.
var Windows = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}
