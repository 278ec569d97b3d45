// Package engine is the composition root of a probe: it registers every
// prober kind and runs target → probe → Result → diagnose, the path that
// check, serve and the tests all share.
package engine

import (
	"context"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/kinds" // registers every probe kind
)

// Check probes t once with o and returns the Result with its findings.
func Check(ctx context.Context, t probe.Target, o *probe.Options) *probe.Result {
	r := probe.Run(ctx, t, o)
	diagnose.Apply(r)
	return r
}
