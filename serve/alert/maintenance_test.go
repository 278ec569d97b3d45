package alert

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // CRON_TZ=Europe/Berlin without a system zoneinfo
)

func mustMaintenance(t *testing.T, loc *time.Location, ws ...Window) *Maintenance {
	t.Helper()
	m, err := NewMaintenance(ws, loc)
	if err != nil {
		t.Fatalf("NewMaintenance: %v", err)
	}
	return m
}

// checkActive checks m.Active(target, at) against open and, when open,
// until.
func checkActive(t *testing.T, m *Maintenance, target string, at time.Time, open bool, until time.Time) {
	t.Helper()
	u, ok := m.Active(target, at)
	if ok != open {
		t.Errorf("Active(%q, %s) = %v, want %v", target, at.Format(time.RFC3339Nano), ok, open)
		return
	}
	if open && !u.Equal(until) {
		t.Errorf("Active(%q, %s) until %s, want %s", target, at.Format(time.RFC3339Nano), u, until)
	}
}

func TestMaintenanceOneOff(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	m := mustMaintenance(t, time.UTC, Window{Targets: []string{"api-*"}, Start: start, End: end})
	checkActive(t, m, "api-eu", start.Add(-time.Nanosecond), false, time.Time{})
	checkActive(t, m, "api-eu", start, true, end)
	checkActive(t, m, "api-eu", end.Add(-time.Nanosecond), true, end)
	checkActive(t, m, "api-eu", end, false, time.Time{})
	checkActive(t, m, "db-1", start.Add(time.Minute), false, time.Time{})
	if m.Empty() {
		t.Error("Empty with a window")
	}
	var nilM *Maintenance
	if _, ok := nilM.Active("api-eu", start); ok || !nilM.Empty() {
		t.Error("a nil Maintenance is not empty and closed")
	}
	if e := mustMaintenance(t, nil); !e.Empty() {
		t.Error("no windows: not Empty")
	}
}

func TestMaintenanceCron(t *testing.T) {
	// Sundays 02:00 for 2 h, in the Maintenance's location.
	m := mustMaintenance(t, time.UTC, Window{Targets: []string{"db"}, Cron: "0 2 * * 0", Duration: 2 * time.Hour})
	sun := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // a Sunday
	open, close := sun.Add(2*time.Hour), sun.Add(4*time.Hour)
	checkActive(t, m, "db", open.Add(-time.Second), false, time.Time{})
	checkActive(t, m, "db", open, true, close)
	checkActive(t, m, "db", open.Add(90*time.Minute), true, close)
	checkActive(t, m, "db", close.Add(-time.Millisecond), true, close)
	checkActive(t, m, "db", close, false, time.Time{})
	checkActive(t, m, "db", open.Add(24*time.Hour+30*time.Minute), false, time.Time{}) // Monday 02:30
	checkActive(t, m, "db", open.Add(7*24*time.Hour+time.Minute), true, close.Add(7*24*time.Hour))
	checkActive(t, m, "web", open.Add(time.Minute), false, time.Time{})

	// The same expression read in another location by default.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	m = mustMaintenance(t, ny, Window{Targets: []string{"db"}, Cron: "0 2 * * 0", Duration: 2 * time.Hour})
	nyOpen := time.Date(2026, 3, 1, 2, 0, 0, 0, ny) // 07:00 UTC
	checkActive(t, m, "db", open.Add(time.Minute), false, time.Time{})
	checkActive(t, m, "db", nyOpen.UTC(), true, nyOpen.Add(2*time.Hour).UTC())

	// CRON_TZ overrides it: 02:00 in Berlin is 01:00 UTC in winter.
	m = mustMaintenance(t, ny, Window{Targets: []string{"db"}, Cron: "CRON_TZ=Europe/Berlin 0 2 * * 0", Duration: 2 * time.Hour})
	berlinOpen := sun.Add(time.Hour)
	checkActive(t, m, "db", berlinOpen.Add(-time.Second), false, time.Time{})
	checkActive(t, m, "db", berlinOpen, true, berlinOpen.Add(2*time.Hour))
	checkActive(t, m, "db", berlinOpen.Add(2*time.Hour), false, time.Time{})
	// until comes back in the location of the time asked about.
	if u, ok := m.Active("db", berlinOpen.In(ny)); !ok || u.Location() != ny {
		t.Errorf("until %v in %v, want New York time", u, u.Location())
	}

	// Overlapping openings extend each other: 10:00 and 10:20 for 30 min
	// hold until 10:50.
	m = mustMaintenance(t, time.UTC, Window{Targets: []string{"db"}, Cron: "0,20 10 * * *", Duration: 30 * time.Minute})
	ten := sun.Add(10 * time.Hour)
	checkActive(t, m, "db", ten.Add(10*time.Minute), true, ten.Add(50*time.Minute))
	checkActive(t, m, "db", ten.Add(45*time.Minute), true, ten.Add(50*time.Minute))
	checkActive(t, m, "db", ten.Add(50*time.Minute), false, time.Time{})

	// A descriptor.
	m = mustMaintenance(t, time.UTC, Window{Targets: []string{"db"}, Cron: "@daily", Duration: time.Hour})
	checkActive(t, m, "db", sun.Add(30*time.Minute), true, sun.Add(time.Hour))
	checkActive(t, m, "db", sun.Add(90*time.Minute), false, time.Time{})
}

func TestMaintenanceChainingIsBounded(t *testing.T) {
	// Every hour for 90 min: the openings chain for ever. Active follows
	// them a week ahead, no further.
	m := mustMaintenance(t, time.UTC, Window{Targets: []string{"*"}, Cron: "0 * * * *", Duration: 90 * time.Minute})
	u, ok := m.Active("db", t0)
	if !ok {
		t.Fatal("not open")
	}
	if u.Before(t0.Add(MaxWindowDuration)) || u.After(t0.Add(MaxWindowDuration+90*time.Minute)) {
		t.Errorf("until %s, want about a week after %s", u, t0)
	}
	// Every minute for a week: the most activations a window can hold.
	m = mustMaintenance(t, time.UTC, Window{Targets: []string{"*"}, Cron: "* * * * *", Duration: MaxWindowDuration})
	start := time.Now()
	if _, ok := m.Active("db", t0); !ok {
		t.Fatal("not open")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Active took %s", d)
	}
}

func TestMaintenanceGlobs(t *testing.T) {
	m := mustMaintenance(t, time.UTC, Window{
		Targets: []string{"api-*", "db-[0-9]", "checkout", "cache-?"},
		Start:   t0, End: t0.Add(time.Hour),
	})
	at := t0.Add(time.Minute)
	for target, want := range map[string]bool{
		"api-eu": true, "api-": true, "api-eu-west-1": true, "web-api": false, "api": false,
		"db-1": true, "db-10": false, "db-a": false,
		"checkout": true, "checkout-2": false, "Checkout": false,
		"cache-a": true, "cache-ab": false,
	} {
		if _, ok := m.Active(target, at); ok != want {
			t.Errorf("%q in maintenance: %v, want %v", target, ok, want)
		}
	}
	// Of several windows, the latest end wins.
	m = mustMaintenance(t, time.UTC,
		Window{Targets: []string{"api-*"}, Start: t0, End: t0.Add(time.Hour)},
		Window{Targets: []string{"api-eu"}, Start: t0, End: t0.Add(2 * time.Hour)},
	)
	checkActive(t, m, "api-eu", at, true, t0.Add(2*time.Hour))
	checkActive(t, m, "api-us", at, true, t0.Add(time.Hour))
}

func TestMaintenanceErrors(t *testing.T) {
	good := Window{Targets: []string{"x"}, Start: t0, End: t0.Add(time.Hour)}
	tests := []struct {
		name string
		w    Window
		want []string // field: message prefix, one per error
	}{
		{"bad cron", Window{Targets: []string{"x"}, Cron: "61 * * * *", Duration: time.Hour},
			[]string{`maintenance[1].cron: "61 * * * *": `}},
		{"cron with 6 fields", Window{Targets: []string{"x"}, Cron: "0 0 2 * * 0", Duration: time.Hour},
			[]string{`maintenance[1].cron: "0 0 2 * * 0"`}},
		{"bad CRON_TZ", Window{Targets: []string{"x"}, Cron: "CRON_TZ=Mars/Olympus 0 2 * * 0", Duration: time.Hour},
			[]string{`maintenance[1].cron: "CRON_TZ=Mars/Olympus 0 2 * * 0"`}},
		{"cron without duration", Window{Targets: []string{"x"}, Cron: "0 2 * * 0"},
			[]string{"maintenance[1].duration: 0s: want more than 0 and at most 168h0m0s"}},
		{"negative duration", Window{Targets: []string{"x"}, Cron: "0 2 * * 0", Duration: -time.Hour},
			[]string{"maintenance[1].duration: -1h0m0s"}},
		{"duration too long", Window{Targets: []string{"x"}, Cron: "0 2 * * 0", Duration: 8 * 24 * time.Hour},
			[]string{"maintenance[1].duration: 192h0m0s"}},
		{"start after end", Window{Targets: []string{"x"}, Start: t0.Add(time.Hour), End: t0},
			[]string{"maintenance[1].end: 2026-03-01T12:00:00Z is not after start 2026-03-01T13:00:00Z"}},
		{"start equals end", Window{Targets: []string{"x"}, Start: t0, End: t0},
			[]string{"maintenance[1].end: "}},
		{"start without end", Window{Targets: []string{"x"}, Start: t0},
			[]string{"maintenance[1].end: end is required"}},
		{"end without start", Window{Targets: []string{"x"}, End: t0},
			[]string{"maintenance[1].start: start is required"}},
		{"duration with start and end", Window{Targets: []string{"x"}, Start: t0, End: t0.Add(time.Hour), Duration: time.Hour},
			[]string{"maintenance[1].duration: duration goes with cron"}},
		{"cron and start", Window{Targets: []string{"x"}, Cron: "@daily", Duration: time.Hour, Start: t0, End: t0.Add(time.Hour)},
			[]string{"maintenance[1].cron: set either cron and duration, or start and end, not both"}},
		{"neither", Window{Targets: []string{"x"}},
			[]string{"maintenance[1]: set cron and duration, or start and end"}},
		{"no targets", Window{Start: t0, End: t0.Add(time.Hour)},
			[]string{"maintenance[1].targets: name at least one target"}},
		{"bad pattern", Window{Targets: []string{"ok", "api-[", ""}, Start: t0, End: t0.Add(time.Hour)},
			[]string{`maintenance[1].targets[1]: "api-[" is not a valid pattern`, `maintenance[1].targets[2]: "" is not a valid pattern`}},
		{"several", Window{Targets: []string{"x"}, Cron: "bogus"},
			[]string{`maintenance[1].cron: "bogus"`, "maintenance[1].duration: 0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMaintenance([]Window{good, tc.w}, time.UTC)
			if err == nil {
				t.Fatalf("no error (%+v)", m)
			}
			if m != nil {
				t.Errorf("a Maintenance with an error")
			}
			errs := unjoin(err)
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors: %v; want %d", len(errs), err, len(tc.want))
			}
			for i, e := range errs {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Errorf("%T is not a *FieldError", e)
				} else if !strings.HasPrefix(tc.want[i], fe.Field+":") {
					t.Errorf("field %q, want %q", fe.Field, tc.want[i])
				}
				if !strings.HasPrefix(e.Error(), tc.want[i]) {
					t.Errorf("%q, want it to start with %q", e, tc.want[i])
				}
			}
			// Config.Validate reports the same.
			if err := (Config{Maintenance: []Window{good, tc.w}}).Validate(); err == nil || !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("Config.Validate: %v", err)
			}
		})
	}
}
