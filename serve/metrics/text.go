package metrics

import (
	"math"
	"strconv"
	"strings"
)

// Low-level writing of the Prometheus text format (version 0.0.4) for the
// per-target families, which the Exporter writes itself (expose.go) rather
// than through client_golang metric children.

// family is the header of one per-target metric family.
type family struct {
	name, typ string
	header    string // "# HELP …\n# TYPE …\n", built once
}

func newFamily(name, typ, help string) family {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	return family{name: name, typ: typ, header: "# HELP " + name + " " + r.Replace(help) + "\n# TYPE " + name + " " + typ + "\n"}
}

// appendLabelValue appends v quoted and escaped as the text format
// requires: backslash, double quote and line feed are backslash-escaped.
func appendLabelValue(b []byte, v string) []byte {
	b = append(b, '"')
	from := 0
	for i := 0; i < len(v); i++ {
		var esc string
		switch v[i] {
		case '\\':
			esc = `\\`
		case '"':
			esc = `\"`
		case '\n':
			esc = `\n`
		default:
			continue
		}
		b = append(b, v[from:i]...)
		b = append(b, esc...)
		from = i + 1
	}
	b = append(b, v[from:]...)
	return append(b, '"')
}

func appendPair(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, '=')
	return appendLabelValue(b, value)
}

// appendLabels appends the label set of one of ts's series without the
// closing brace: the extra (name, value) pairs, sorted by name, merged
// with the target's own labels (sorted pairs too) and with module and
// target, so that every label set is in name order, as client_golang
// writes it. The names never collide: the config reserves pathlens's.
func appendLabels(b []byte, ts *targetSeries, extra []string) []byte {
	b = append(b, '{')
	own := [4]string{"module", ts.mod.name, "target", ts.name}
	lists := [3][]string{extra, ts.labels, own[:]}
	for n := 0; ; n++ {
		k := -1
		for j := range lists {
			if len(lists[j]) >= 2 && (k < 0 || lists[j][0] < lists[k][0]) {
				k = j
			}
		}
		if k < 0 {
			return b
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendPair(b, lists[k][0], lists[k][1])
		lists[k] = lists[k][2:]
	}
}

// appendSample appends one sample line `name{labels} value`.
func appendSample(b []byte, name string, ts *targetSeries, v float64, extra ...string) []byte {
	b = append(b, name...)
	b = appendLabels(b, ts, extra)
	b = append(b, "} "...)
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendFloat appends v as the text format reads it: integers without a
// fraction or exponent, other values in the shortest form that parses
// back to v.
func appendFloat(b []byte, v float64) []byte {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case a < 1e15 && v == math.Trunc(v):
		return strconv.AppendInt(b, int64(v), 10)
	case a >= 1e-4 && a < 1e15:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
