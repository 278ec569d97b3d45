package web

import (
	"context"
	"strconv"
	"time"

	"github.com/pathlens/pathlens/serve/store"
)

// The overview's uptime bar: the last barHours hours of a target, one
// cell per hour coloured by how its runs went, with the counts on hover.
// Rows past maxBarRows on one page get none (a store query each).
const (
	barHours   = 24
	maxBarRows = 200
	barCellW   = 5
	barCellGap = 1
	barH       = 14
)

// uptimeBar is one target's bar.
type uptimeBar struct {
	W, H  int
	Cells []barCell
	Title string // the whole bar, for screen readers
}

type barCell struct {
	X, W  int
	Class string // bar-ok (every run succeeded), bar-part, bar-down (none did), bar-none (no run)
	Title string // "14:00–15:00 UTC: 58 of 60 runs succeeded"
}

// newUptimeBar reads target's last barHours hours from st.
func newUptimeBar(ctx context.Context, st *store.Store, target string, now time.Time) (*uptimeBar, error) {
	hours, err := st.Hourly(ctx, target, barHours, now)
	if err != nil {
		return nil, err
	}
	b := &uptimeBar{W: barHours*(barCellW+barCellGap) - barCellGap, H: barH}
	var runs, ok int64
	for i, h := range hours {
		c := barCell{X: i * (barCellW + barCellGap), W: barCellW}
		span := h.Start.Format("15:04") + "–" + h.Start.Add(time.Hour).Format("15:04") + " UTC"
		switch {
		case h.Runs == 0:
			c.Class, c.Title = "bar-none", span+": no runs"
		case h.Successes == h.Runs:
			c.Class = "bar-ok"
		case h.Successes == 0:
			c.Class = "bar-down"
		default:
			c.Class = "bar-part"
		}
		if h.Runs > 0 {
			c.Title = span + ": " + strconv.FormatInt(h.Successes, 10) + " of " + strconv.FormatInt(h.Runs, 10) + " runs succeeded"
		}
		runs, ok = runs+h.Runs, ok+h.Successes
		b.Cells = append(b.Cells, c)
	}
	b.Title = "last 24 hours: no runs"
	if runs > 0 {
		b.Title = "last 24 hours: " + fmtPct(float64(ok)/float64(runs)) + " of " + strconv.FormatInt(runs, 10) + " runs succeeded"
	}
	return b, nil
}
