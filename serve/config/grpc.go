package config

import (
	"encoding/hex"
	"strings"
)

// grpcModule reads a module's grpc section (at path) into g; the values'
// rules are probe's (checkOptions).
func (d *decoder) grpcModule(path string, r *rawGRPC, g *GRPCModule) {
	svcNode := r.Service.set(&g.Service)
	if n := r.Method.set(&g.Method); n != nil {
		g.Method = strings.TrimSpace(g.Method)
		if g.Method != "" && svcNode != nil && g.Service != "" {
			d.failf(svcNode, join(path, "service"), "service names what the default health Check asks about; it does not go with method")
		}
	}
	var hexReq string
	if n := r.RequestHex.set(&hexReq); n != nil && strings.TrimSpace(hexReq) != "" {
		if g.Method == "" {
			d.failf(n, join(path, "request_hex"), "request_hex needs method (the health Check builds its own request)")
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexReq), ""))
		if err != nil {
			d.failf(n, join(path, "request_hex"), "not hex: %v", err)
		}
		g.Request = b
	}
	r.ExpectMessages.set(&g.ExpectMessages)
	d.h2Windows(path, r.H2Window, r.H2ConnWindow, &g.H2Windows)
}
