package serve

import (
	"time"

	"github.com/pathlens/pathlens/serve/config"
)

// reloadFailure is a reload that was refused: the UI shows it on every
// page (web.Deps.ReloadError) until a reload succeeds.
type reloadFailure struct {
	at  time.Time
	err error
}

// reloadError is the last reload's failure and when it was; a nil error
// once a reload succeeds.
func (s *server) reloadError() (time.Time, error) {
	if f := s.reloadFail.Load(); f != nil {
		return f.at, f.err
	}
	return time.Time{}, nil
}

// statusDays is how many days the status page shows (web's statusDays),
// and statusKeep how far back its targets' hour roll-ups are kept: the
// first day's midnight is up to a day before now minus the days.
const (
	statusDays = 90
	statusKeep = (statusDays + 1) * 24 * time.Hour
)

// statusRollupsKept adds to keep (rollupsKept's, which it may change)
// the targets the enabled status page shows, whose hour roll-ups are
// kept statusKeep when the retention is shorter: its daily cells come
// from them. An hour roll-up is a few hundred bytes.
func statusRollupsKept(cfg *config.Config, now time.Time, keep map[string]time.Time) map[string]time.Time {
	sp := cfg.StatusPage
	if !sp.Enabled || cfg.Storage.Retention >= statusKeep {
		return keep
	}
	from := now.Add(-statusKeep)
	for _, g := range sp.Groups {
		for _, name := range g.Members {
			if t, ok := keep[name]; ok && !t.After(from) {
				continue
			}
			if keep == nil {
				keep = map[string]time.Time{}
			}
			keep[name] = from
		}
	}
	return keep
}
