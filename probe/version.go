package probe

import "runtime/debug"

// Version is the pathlens version: what `pathlens version` prints and every
// probe's User-Agent carries. A release build sets it with
//
//	go build -ldflags "-X github.com/pathlens/pathlens/probe.Version=1.2.3"
//
// (make build passes `git describe --tags --always --dirty`); unset, it is
// the main module's version from the build info (go install ...@v1.2.3),
// else "dev". It is set once, before any probe runs.
//
// (-X only sets a variable with no initializer or a constant one, so the
// build-info default is filled in by init.)
var Version string

func init() {
	if Version == "" {
		Version = buildVersion()
	}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// UserAgent is the User-Agent every probe sends: "pathlens/" + Version.
func UserAgent() string { return "pathlens/" + Version }
