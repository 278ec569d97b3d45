package metrics

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pathlens/pathlens/probe"
)

// nBuckets is the number of buckets of a duration histogram:
// DurationBuckets and +Inf.
const nBuckets = 16

// bounds are DurationBuckets as the compact histograms use them (a copy,
// so that the exported slice cannot be changed under them), and leLabels
// the text of their le labels.
var (
	bounds   = [nBuckets - 1]float64(DurationBuckets)
	leLabels = func() (out [nBuckets]string) {
		for i, le := range bounds {
			out[i] = `,le="` + string(appendFloat(nil, le)) + `"} `
		}
		out[nBuckets-1] = `,le="+Inf"} `
		return out
	}()
)

// hist is a per-target duration histogram on DurationBuckets: 72 bytes
// where a client_golang histogram child cost about 1 KB with its labels.
// Its lock is the target's.
type hist struct {
	counts [nBuckets]uint32 // per bucket, not cumulative; the last is +Inf
	sumUS  int64            // the sum in whole microseconds, so it prints as 0.049431, not 0.049430999999999996
}

func (h *hist) observe(v float64) {
	i := sort.SearchFloat64s(bounds[:], v) // the first bound ≥ v, as le means
	h.counts[i]++
	h.sumUS += int64(math.Round(v * 1e6))
}

// appendHist appends the _bucket, _sum and _count lines of one series.
func appendHist(b []byte, name string, ts *targetSeries, h *hist, extra ...string) []byte {
	var cum uint64
	for i, n := range h.counts {
		cum += uint64(n)
		b = append(b, name...)
		b = append(b, "_bucket"...)
		b = appendLabels(b, ts, extra)
		b = append(b, leLabels[i]...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
	}
	b = append(b, name...)
	b = append(b, "_sum"...)
	b = appendLabels(b, ts, extra)
	b = append(b, "} "...)
	b = appendFloat(b, float64(h.sumUS)/1e6)
	b = append(b, '\n')
	b = append(b, name...)
	b = append(b, "_count"...)
	b = appendLabels(b, ts, extra)
	b = append(b, "} "...)
	b = strconv.AppendUint(b, cum, 10)
	return append(b, '\n')
}

// targetHists are the opt-in per-target histograms
// (ModuleMetrics.PerTargetHistograms).
type targetHists struct {
	total  hist
	phases []phaseHist // sorted by name
}

type phaseHist struct {
	name string
	h    hist
}

func (th *targetHists) phase(name string) *hist {
	i, ok := slices.BinarySearchFunc(th.phases, name, func(p phaseHist, n string) int { return strings.Compare(p.name, n) })
	if !ok {
		th.phases = slices.Insert(th.phases, i, phaseHist{name: phaseName(name)})
	}
	return &th.phases[i].h
}

// knownPhases maps each phase name of probe.Phases to itself, so that a
// target keeps the package's constant rather than a Result's copy.
var knownPhases = func() map[string]string {
	m := make(map[string]string, len(probe.Phases))
	for _, p := range probe.Phases {
		m[p] = p
	}
	return m
}()

func phaseName(s string) string {
	if k, ok := knownPhases[s]; ok {
		return k
	}
	return strings.Clone(s)
}
