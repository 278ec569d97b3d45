package config

import (
	"encoding/hex"
	"strings"
)

// grpcModule reads a module's grpc: section into m.GRPC; the values'
// rules are probe's (checkOptions).
func (d *decoder) grpcModule(mm *mapping, m *Module) {
	g := d.mapping(mm.keyNode("grpc"), mm.get("grpc"), mm.field("grpc"), grpcKeys)
	svcNode := g.str("service", &m.GRPC.Service)
	if n := g.str("method", &m.GRPC.Method); n != nil {
		m.GRPC.Method = strings.TrimSpace(m.GRPC.Method)
		if m.GRPC.Method != "" && svcNode != nil && m.GRPC.Service != "" {
			d.failf(svcNode, g.field("service"), "service names what the default health Check asks about; it does not go with method")
		}
	}
	var hexReq string
	if n := g.str("request_hex", &hexReq); n != nil && strings.TrimSpace(hexReq) != "" {
		if m.GRPC.Method == "" {
			d.failf(n, g.field("request_hex"), "request_hex needs method (the health Check builds its own request)")
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(hexReq), ""))
		if err != nil {
			d.failf(n, g.field("request_hex"), "not hex: %v", err)
		}
		m.GRPC.Request = b
	}
	g.integer("expect_messages", &m.GRPC.ExpectMessages)
	d.h2Windows(g, &m.GRPC.H2Windows)
}
