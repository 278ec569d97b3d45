package web

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// TestPhasesCoverKinds: every phase a registered kind can report is in
// probe.Phases (so legends order it and it has its own colour) and the
// stylesheet colours it.
func TestPhasesCoverKinds(t *testing.T) {
	css, err := os.ReadFile("ui/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	names := probe.KindNames()
	if len(names) == 0 {
		t.Fatal("no kinds registered")
	}
	for _, n := range names {
		k, _ := probe.LookupKind(n)
		for _, p := range k.Phases {
			if !slices.Contains(probe.Phases, p) {
				t.Errorf("kind %s: phase %q is not in probe.Phases", n, p)
			}
			if phaseClass(p) != "ph-"+p || !strings.Contains(string(css), "--ph-"+p+":") {
				t.Errorf("kind %s: phase %q has no colour of its own", n, p)
			}
		}
	}
}
