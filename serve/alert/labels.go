package alert

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Label names the alerts set themselves. A target label of one of these
// names is dropped: a target's labels never override what the alert is.
const (
	LabelAlertname = "alertname"
	LabelTarget    = "target"
	LabelModule    = "module"
	LabelSeverity  = "severity"
	LabelFinding   = "finding"
)

// ReservedLabels lists the label names a target's own labels may not
// use in alerts (the config loader should refuse them; the Manager drops
// them).
var ReservedLabels = []string{LabelAlertname, LabelTarget, LabelModule, LabelSeverity, LabelFinding}

// MaxLabelValue caps a label value in bytes.
const MaxLabelValue = 1024

// SanitizeLabelName turns name into a valid Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", which Prometheus
// reserves): every other character becomes '_', a leading digit gets a
// '_' in front, and leading underscores are cut to one. It returns ""
// for a name with nothing usable (empty, or only underscores).
func SanitizeLabelName(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if t := strings.TrimLeft(s, "_"); len(t) < len(s) {
		if t == "" {
			return ""
		}
		s = "_" + t
	}
	return s
}

// sanitizeValue makes v valid UTF-8 of at most MaxLabelValue bytes.
func sanitizeValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return cut(v, MaxLabelValue)
}

// SanitizeLabels returns a target's labels as alerts carry them: names
// sanitized (SanitizeLabelName), values made valid UTF-8 and cut to
// MaxLabelValue, empty values and ReservedLabels dropped. When two names
// sanitize to the same one, the first in sorted order of the original
// names wins, so the result does not depend on map order.
func SanitizeLabels(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	out := make(map[string]string, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		name := SanitizeLabelName(k)
		if name == "" || v == "" || slices.Contains(ReservedLabels, name) {
			continue
		}
		if _, dup := out[name]; dup {
			continue
		}
		out[name] = sanitizeValue(v)
	}
	return out
}
