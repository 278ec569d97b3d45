package units

import (
	"math"
	"testing"
)

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0.00", 0.054: "0.05", 9.994: "9.99", 12.44: "12.4", 99.9: "99.9", 100: "100", 1234.5: "1234", -3.5: "-3.50", math.NaN(): "—", math.Inf(1): "—"} {
		if got := Num(in); got != want {
			t.Errorf("Num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestMS(t *testing.T) {
	for in, want := range map[float64]string{0: "0.00 ms", 0.423: "0.42 ms", 12.34: "12.3 ms", 845.2: "845 ms", 2310: "2310 ms", 12345: "12345 ms", math.NaN(): "—"} {
		if got := MS(in); got != want {
			t.Errorf("MS(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 23: "23 B", 1000: "1000 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 5000: "4.9 KiB",
		16 << 10: "16 KiB", 65535: "64 KiB", 1 << 20: "1 MiB", 10 << 20: "10 MiB", 3 << 30: "3 GiB", -2048: "-2 KiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
