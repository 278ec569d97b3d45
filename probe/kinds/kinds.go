// Package kinds registers every probe kind pathlens ships with the probe
// registry. Import it for its side effect where kinds are looked up by name
// or scheme (the engine, the config loader), so a new protocol package is
// added in this one place:
//
//	import _ "github.com/pathlens/pathlens/probe/kinds"
package kinds

import (
	_ "github.com/pathlens/pathlens/probe/dnsx"  // dns
	_ "github.com/pathlens/pathlens/probe/grpcx" // grpc, grpcs
	_ "github.com/pathlens/pathlens/probe/httpx" // http, https
	_ "github.com/pathlens/pathlens/probe/icmpx" // icmp
	_ "github.com/pathlens/pathlens/probe/tcpx"  // tcp, tls
	_ "github.com/pathlens/pathlens/probe/wsx"   // ws, wss
)
