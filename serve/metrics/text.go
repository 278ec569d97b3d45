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
// with module and target so that every label set is in name order, as
// client_golang writes it.
func appendLabels(b []byte, ts *targetSeries, extra []string) []byte {
	b = append(b, '{')
	i := 0
	for ; i+1 < len(extra) && extra[i] < "module"; i += 2 {
		b = appendPair(b, extra[i], extra[i+1])
		b = append(b, ',')
	}
	b = appendPair(b, "module", ts.mod.name)
	for ; i+1 < len(extra) && extra[i] < "target"; i += 2 {
		b = append(b, ',')
		b = appendPair(b, extra[i], extra[i+1])
	}
	b = append(b, ',')
	b = appendPair(b, "target", ts.name)
	for ; i+1 < len(extra); i += 2 {
		b = append(b, ',')
		b = appendPair(b, extra[i], extra[i+1])
	}
	return b
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
