package probe_test

import (
	"slices"
	"testing"

	_ "github.com/pathlens/pathlens/engine" // registers every kind
	"github.com/pathlens/pathlens/probe"
)

// Every kind names the option sections it reads; the front ends refuse
// the others (serve/config per module section, the CLI per flag).
func TestKindSections(t *testing.T) {
	known := []string{"dns", "grpc", "h2", "http", "icmp", "tls", "ws"}
	for _, name := range probe.KindNames() {
		k, _ := probe.LookupKind(name)
		if len(k.Sections) == 0 || !slices.IsSorted(k.Sections) {
			t.Errorf("kind %s: Sections %v, want a sorted, non-empty list", name, k.Sections)
		}
		for _, s := range k.Sections {
			if !slices.Contains(known, s) {
				t.Errorf("kind %s: unknown section %q", name, s)
			}
		}
		if !k.Accepts("dns") {
			t.Errorf("kind %s does not accept dns (every kind resolves names)", name)
		}
	}
	for section, want := range map[string][]string{
		"ws": {"ws"}, "grpc": {"grpc"}, "icmp": {"icmp"}, "h2": {"grpc", "http"},
		"http": {"http", "ws"}, "tls": {"grpc", "http", "tls", "ws"},
	} {
		var got []string
		for _, k := range probe.KindsWith(section) {
			got = append(got, k.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("KindsWith(%q) = %v, want %v", section, got, want)
		}
	}
	if k, _ := probe.LookupKind("tcp"); k.Accepts("tls") || k.Accepts("") {
		t.Error("tcp accepts tls")
	}
}
