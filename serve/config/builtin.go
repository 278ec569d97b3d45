package config

import "github.com/pathlens/pathlens/probe"

// ParseBuiltin parses and validates a config that pathlens generated
// rather than read from a file (the `serve --demo` config). name stands
// for the file in errors; file names in the config are used as they are,
// since there is no config directory to resolve them against. Path is "".
func ParseBuiltin(name string, data []byte) (*Config, error) {
	return parse(name, "", data)
}

// KindPending reports whether kind is a probe kind the config format
// names but this build cannot probe yet.
func KindPending(kind string) bool { _, ok := probe.LookupKind(kind); return !ok }
