// Package engine is the composition root of a probe: it registers every
// prober kind and runs target → probe → Result → diagnose → assertions,
// the path that check, serve and the tests all share.
package engine

import (
	"context"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/kinds" // registers every probe kind
)

// Check probes t once with o and returns the Result with its findings:
// the diagnosis, then the ASSERTION_FAILED finding of o.Assertions when
// one of them fails (docs/assertions.md). The response body an assertion
// read is dropped before Check returns, so no consumer of the Result
// ever holds it.
func Check(ctx context.Context, t probe.Target, o *probe.Options) *probe.Result {
	r := probe.Run(ctx, t, o)
	diagnose.Apply(r)
	if o != nil && o.Assertions != nil {
		diagnose.Add(r, o.Assertions.Check(ctx, r)...)
	}
	r.Body = nil
	return r
}
