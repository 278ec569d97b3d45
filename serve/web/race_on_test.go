//go:build race

package web

// raceEnabled: the race detector slows everything down several times, so
// time bounds are loosened by raceSlowdown.
const (
	raceEnabled  = true
	raceSlowdown = 10
)
