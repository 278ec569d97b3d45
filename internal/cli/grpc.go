package cli

import (
	"encoding/hex"
	"math"
	"strings"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/probe/grpcx"
	"github.com/pathlens/pathlens/probe/httpx"
)

// grpcOptions validates the gRPC and HTTP/2 window flags into o.
func (f *checkFlags) grpcOptions(o *probe.Options) error {
	o.GRPCService = f.grpcService
	if m := f.grpcMethod; m != "" {
		if svc, meth, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/"); !strings.HasPrefix(m, "/") || !ok || svc == "" || meth == "" || strings.ContainsAny(m, " \t") || strings.Contains(meth, "/") {
			return usagef("check: --grpc-method %q: want /package.Service/Method", m)
		}
		o.GRPCMethod = m
	}
	if f.grpcRequestHex != "" {
		if f.grpcMethod == "" {
			return usagef("check: --grpc-request-hex needs --grpc-method (the health Check builds its own request)")
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(f.grpcRequestHex), ""))
		if err != nil {
			return usagef("check: --grpc-request-hex: not hex (%v)", err)
		}
		o.GRPCRequest = b
	}
	if f.grpcService != "" && f.grpcMethod != "" {
		return usagef("check: --grpc-service and --grpc-method exclude each other (--grpc-service names the service the health Check asks about)")
	}
	if f.expectMessages < 0 {
		return usagef("check: --expect-messages %d: want 0 or more", f.expectMessages)
	}
	o.ExpectMessages = f.expectMessages
	for _, w := range []struct {
		name, v string
		dst     *int32
	}{{"--h2-window", f.h2Window, &o.H2Window}, {"--h2-conn-window", f.h2ConnWindow, &o.H2ConnWindow}} {
		if w.v == "" {
			continue
		}
		n, err := optparse.ParseSize(w.v)
		if err != nil || n > math.MaxInt32 {
			return usagef("check: %s %q: want a size from 1 to 2147483647 bytes (e.g. 65535, 64KiB, 1MiB)", w.name, w.v)
		}
		*w.dst = int32(n)
	}
	return nil
}

// checkGRPCKind refuses the gRPC flags for targets that are not grpc:// or
// grpcs://, the HTTP/2 window flags where no HTTP/2 connection is made,
// and windows the HTTP/2 client would silently ignore.
func (f *checkFlags) checkGRPCKind(kind string) error {
	isGRPC := kind == "grpc" || kind == "grpcs"
	for _, g := range []struct {
		name  string
		given bool
	}{
		{"--grpc-service", f.grpcService != ""}, {"--grpc-method", f.grpcMethod != ""},
		{"--grpc-request-hex", f.grpcRequestHex != ""}, {"--expect-messages", f.expectMessages != 0},
	} {
		if g.given && !isGRPC {
			return usagef("check: %s applies to grpc:// and grpcs:// targets only (the target is %s://)", g.name, kind)
		}
	}
	windows := []struct{ name, v string }{{"--h2-window", f.h2Window}, {"--h2-conn-window", f.h2ConnWindow}}
	for _, w := range windows {
		if w.v == "" {
			continue
		}
		switch {
		case isGRPC || kind == "https" || (kind == "http" && f.h2c):
		case kind == "http":
			return usagef("check: %s applies to HTTP/2: add --h2c for cleartext HTTP/2 to an http:// target", w.name)
		default:
			return usagef("check: %s applies to HTTP/2 targets only (https://, http:// with --h2c, grpc://, grpcs://; the target is %s://)", w.name, kind)
		}
		if f.http11 {
			return usagef("check: %s sets an HTTP/2 window, and --http1.1 rules HTTP/2 out", w.name)
		}
	}
	for _, w := range windows {
		n, err := optparse.ParseSize(w.v)
		if w.v == "" || err != nil {
			continue
		}
		if isGRPC && n < grpcx.MinWindow {
			return usagef("check: %s %s: grpc-go ignores HTTP/2 windows below %d bytes; use %d or more", w.name, w.v, grpcx.MinWindow, grpcx.MinWindow)
		}
		if !isGRPC && w.name == "--h2-conn-window" && n < httpx.MinConnWindow {
			return usagef("check: %s %s: the HTTP/2 client cannot announce a connection window below %d bytes (the 65,535-byte initial window plus at least as much again); use %d or more", w.name, w.v, httpx.MinConnWindow, httpx.MinConnWindow)
		}
	}
	return nil
}
