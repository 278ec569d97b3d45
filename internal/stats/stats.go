// Package stats holds the one percentile pathlens computes, for check -n's
// summary and the web UI's.
package stats

import "math"

// Percentile is the p-th percentile (0 < p ≤ 100) of sorted (ascending) by
// the nearest-rank method: the value at rank ceil(p/100 × n), 1-based, so
// the smallest value with at least p % of the values at or below it. No
// values give 0.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// Integer arithmetic where possible avoids 0.9*10 = 9.000000000000002.
	var rank int
	if p == math.Trunc(p) {
		rank = (int(p)*n + 99) / 100
	} else {
		rank = int(math.Ceil(p / 100 * float64(n)))
	}
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}
