package cli

import (
	"encoding/hex"
	"math"
	"strings"

	"github.com/pathlens/pathlens/internal/optparse"
	"github.com/pathlens/pathlens/probe"
)

// grpcOptions reads the gRPC and HTTP/2 window flags into o; their
// values' rules are probe's (checkGRPCKind applies them).
func (f *checkFlags) grpcOptions(o *probe.Options) error {
	o.GRPCService = f.grpcService
	o.GRPCMethod = f.grpcMethod
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

// checkGRPCKind refuses the gRPC flags for targets whose kind does not
// read the grpc section and the HTTP/2 window flags where no HTTP/2
// connection is made (probe.Kind.Sections); then, the kind known at last,
// it applies probe's rules for it to the options built (windows the
// HTTP/2 client would silently ignore, the icmp limits, …; see
// checkFlags.validate).
func (f *checkFlags) checkGRPCKind(kind string) error {
	for _, g := range []struct {
		name  string
		given bool
	}{
		{"--grpc-service", f.grpcService != ""}, {"--grpc-method", f.grpcMethod != ""},
		{"--grpc-request-hex", f.grpcRequestHex != ""}, {"--expect-messages", f.expectMessages != 0},
	} {
		if g.given && !reads(kind, "grpc") {
			return usagef("check: %s applies to %s targets only (the target is %s://)", g.name, sectionTargets("grpc"), kind)
		}
	}
	windows := []struct{ name, v string }{{"--h2-window", f.h2Window}, {"--h2-conn-window", f.h2ConnWindow}}
	for _, w := range windows {
		if w.v == "" {
			continue
		}
		// The kinds that read h2 take http:// too, where HTTP/2 needs --h2c:
		// the list of targets is spelled here for that.
		switch {
		case !reads(kind, "h2"):
			return usagef("check: %s applies to HTTP/2 targets only (https://, http:// with --h2c, grpc://, grpcs://; the target is %s://)", w.name, kind)
		case kind == "http" && !f.h2c:
			return usagef("check: %s applies to HTTP/2: add --h2c for cleartext HTTP/2 to an http:// target", w.name)
		}
		if f.http11 {
			return usagef("check: %s sets an HTTP/2 window, and --http1.1 rules HTTP/2 out", w.name)
		}
	}
	if f.built == nil {
		return nil
	}
	return f.validate(kind, f.built)
}

// reads reports whether the kind of targets of URL scheme reads the
// option section (probe.Kind.Sections).
func reads(scheme, section string) bool {
	k, ok := probe.KindFor(scheme)
	return ok && k.Accepts(section)
}

// sectionTargets names the schemes of the kinds that read the option
// section, for messages: "grpc:// and grpcs://".
func sectionTargets(section string) string {
	var all probe.Kind
	for _, k := range probe.KindsWith(section) {
		all.Schemes = append(all.Schemes, k.Schemes...)
	}
	return all.SchemeList()
}
