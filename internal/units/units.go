// Package units formats measurements for people, one way wherever pathlens
// shows them (the check output, the web UI, the findings' summaries):
// milliseconds and byte sizes. JSON carries the numbers themselves.
package units

import (
	"math"
	"strconv"
	"strings"
)

// Num formats milliseconds without the unit, with the precision the size
// deserves: under 10 → 2 decimals, under 100 → 1, else none ("0.42",
// "12.3", "845", "2310"). NaN and infinities are "—".
func Num(ms float64) string {
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		return "—"
	}
	prec := 0
	switch a := math.Abs(ms); {
	case a < 10:
		prec = 2
	case a < 100:
		prec = 1
	}
	return strconv.FormatFloat(ms, 'f', prec, 64)
}

// MS is Num with the unit: "0.42 ms", "12.3 ms", "845 ms", "2310 ms"
// (milliseconds throughout, as in the JSON's *_ms fields).
func MS(ms float64) string {
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		return "—"
	}
	return Num(ms) + " ms"
}

// Bytes formats a byte count: bytes under 1 KiB ("512 B", "1000 B"), else
// binary units with one decimal, none when it is 0 ("4.9 KiB", "64 KiB",
// "1.5 MiB", "3 GiB").
func Bytes(n int64) string {
	a := n
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case a < 1<<20:
		return oneDecimal(float64(n)/(1<<10)) + " KiB"
	case a < 1<<30:
		return oneDecimal(float64(n)/(1<<20)) + " MiB"
	}
	return oneDecimal(float64(n)/(1<<30)) + " GiB"
}

func oneDecimal(x float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(x, 'f', 1, 64), ".0")
}
