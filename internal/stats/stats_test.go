package stats

import "testing"

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		vs   []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 99, 7},
		{ten, 50, 5}, {ten, 90, 9}, {ten, 99, 10}, {ten, 100, 10}, {ten, 10, 1}, {ten, 0.5, 1}, {ten, 95.5, 10},
		{[]float64{1, 2, 3}, 50, 2}, {[]float64{1, 2}, 50, 1},
	} {
		if got := Percentile(tc.vs, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.vs, tc.p, got, tc.want)
		}
	}
}

// The table check -n was tested with (0.9×10 is exactly rank 9).
func TestPercentileRanks(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i + 1)
		}
		return v
	}
	for _, c := range []struct {
		n    int
		p    float64
		want float64
	}{
		{1, 50, 1}, {1, 99, 1},
		{2, 50, 1}, {2, 90, 2},
		{10, 50, 5}, {10, 90, 9}, {10, 99, 10}, // 0.9×10 is exactly rank 9
		{20, 50, 10}, {20, 90, 18}, {20, 99, 20},
		{100, 99, 99}, {100, 90, 90}, {101, 99, 100},
		{200, 99.5, 199},
	} {
		if got := Percentile(seq(c.n), c.p); got != c.want {
			t.Errorf("n=%d p%v = %v, want %v", c.n, c.p, got, c.want)
		}
	}
}
