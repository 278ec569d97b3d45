package diagnose

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pathlens/pathlens/probe"
)

// IDAssertionFailed is the finding of the user's own assertions
// (docs/assertions.md): no rule emits it, package assert does, through
// AssertionFailed.
const IDAssertionFailed = "ASSERTION_FAILED"

// AssertionFailure is one user assertion that did not hold: it evaluated
// to something other than true, or it could not be evaluated.
type AssertionFailure struct {
	// Expr is the expression as written.
	Expr string
	// Severity is the assertion's own (critical unless it sets another).
	Severity probe.Severity
	// Result is what the expression evaluated to (false, or a value that
	// is not a bool); nil when Err is set.
	Result any
	// Err says why the expression could not be evaluated ("" when it was).
	Err string
	// Values are the values of the selections and calls the expression
	// names, by their text ("r.http.status": 503); nil when none could be
	// read.
	Values map[string]any
}

// Bounds of an ASSERTION_FAILED summary: an expression is cut to
// summaryExprLen characters, a value to summaryValueLen, and at most
// summaryValues values are shown (the evidence has them all).
const (
	summaryExprLen  = 120
	summaryValueLen = 60
	summaryValues   = 3
)

// AssertionFailed is the ASSERTION_FAILED finding of the failed
// assertions (at least one) among n evaluated. Its severity is the worst
// of theirs; the summary and the top-level evidence describe the first
// of the worst, and evidence "more" lists the others.
func AssertionFailed(failed []AssertionFailure, n int) Finding {
	fs := slices.Clone(failed)
	for i := range fs {
		if fs[i].Severity.Rank() == 0 {
			fs[i].Severity = probe.SeverityCritical
		}
	}
	slices.SortStableFunc(fs, func(a, b AssertionFailure) int { return b.Severity.Rank() - a.Severity.Rank() })
	first := fs[0]
	ev := evidence{"expression": first.Expr, "failed": len(fs), "evaluated": n}
	for k, v := range failureEvidence(first) {
		ev[k] = v
	}
	if len(fs) > 1 {
		more := make([]map[string]any, 0, len(fs)-1)
		for _, f := range fs[1:] {
			m := failureEvidence(f)
			m["expression"] = f.Expr
			m["severity"] = string(f.Severity)
			more = append(more, m)
		}
		ev["more"] = more
	}
	summary := failureSummary(first)
	if len(fs) > 1 {
		summary = fmt.Sprintf("%d of %d assertions failed; the first: %s", len(fs), n, summary)
	}
	return Finding{
		ID: IDAssertionFailed, Severity: first.Severity,
		Summary:  summary,
		Evidence: ev,
		Advice: "The answer broke an assertion of yours (check --assert, assert: in the serve config); the evidence " +
			"holds the expression and the values it saw. If the service is wrong, fix the service; if the " +
			"expectation is, change the expression (docs/assertions.md). An expression that cannot be evaluated " +
			"fails too: a field the Result lacks (guard it with has(r.http) && …), a body that is not JSON, a " +
			"phase the probe did not have (phase(\"dns\", duration(\"0s\")) gives a default), or the cost limit.",
	}
}

// failureEvidence is f's result or error and its values.
func failureEvidence(f AssertionFailure) map[string]any {
	m := map[string]any{}
	if f.Err != "" {
		m["error"] = f.Err
	} else {
		m["result"] = f.Result
	}
	if len(f.Values) > 0 {
		m["values"] = f.Values
	}
	return m
}

// failureSummary is one line about f: the expression and what it gave.
func failureSummary(f AssertionFailure) string {
	s := "assertion " + cut(oneLine(f.Expr), summaryExprLen)
	if f.Err != "" {
		return s + " could not be evaluated: " + cut(oneLine(f.Err), summaryExprLen)
	}
	if b, ok := f.Result.(bool); ok && !b {
		s += " is false"
	} else {
		s += " gave " + cut(compact(f.Result), summaryValueLen) + ", not true"
	}
	if len(f.Values) > 0 {
		keys := make([]string, 0, len(f.Values))
		for k := range f.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, summaryValues+1)
		for i, k := range keys {
			if i == summaryValues {
				parts = append(parts, "…")
				break
			}
			parts = append(parts, cut(oneLine(k), summaryValueLen)+" = "+cut(compact(f.Values[k]), summaryValueLen))
		}
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// oneLine folds every run of white space in s into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cut shortens s to n characters, the last one an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// compact is v as compact JSON (its %v form when it does not encode).
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return oneLine(fmt.Sprint(v))
	}
	return string(b)
}

// catalogueIndex maps each catalogue ID to its position.
var catalogueIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(rules))
	for i, r := range rules {
		m[r.ID] = i
	}
	return m
})

// Add puts findings produced outside the rules (ASSERTION_FAILED) into
// r.Findings in Diagnose's order: worst first, then catalogue order; an
// ID the catalogue lacks goes last among its severity.
func Add(r *probe.Result, fs ...Finding) {
	if r == nil || len(fs) == 0 {
		return
	}
	r.Findings = append(r.Findings, fs...)
	idx := catalogueIndex()
	pos := func(id string) int {
		if i, ok := idx[id]; ok {
			return i
		}
		return len(idx)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		if d := b.Severity.Rank() - a.Severity.Rank(); d != 0 {
			return d
		}
		return pos(a.ID) - pos(b.ID)
	})
}
