// Package engine is the composition root of a probe: it registers every
// prober kind and runs target → probe → Result → diagnose, the path that
// check, serve and the tests all share.
package engine

import (
	"context"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/dnsx"  // dns
	_ "github.com/pathlens/pathlens/probe/grpcx" // grpc, grpcs
	_ "github.com/pathlens/pathlens/probe/httpx" // http, https
	_ "github.com/pathlens/pathlens/probe/icmpx" // icmp
	_ "github.com/pathlens/pathlens/probe/tcpx"  // tcp, tls
	_ "github.com/pathlens/pathlens/probe/wsx"   // ws, wss
)

// Check probes t once with o and returns the Result with its findings.
func Check(ctx context.Context, t probe.Target, o *probe.Options) *probe.Result {
	r := probe.Run(ctx, t, o)
	diagnose.Apply(r)
	return r
}
