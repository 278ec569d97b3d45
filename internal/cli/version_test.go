package cli

import (
	"bytes"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// `pathlens version` prints probe.Version, the version every probe's
// User-Agent carries.
func TestVersionIsProbeVersion(t *testing.T) {
	old := probe.Version
	t.Cleanup(func() { probe.Version = old })
	for _, v := range []string{old, "1.2.3"} {
		probe.Version = v
		var out, errb bytes.Buffer
		if code := Run([]string{"version"}, &out, &errb); code != ExitOK || errb.Len() != 0 {
			t.Fatalf("version: exit %d, stderr %q", code, errb.String())
		}
		if got, want := out.String(), "pathlens "+v+"\n"; got != want {
			t.Errorf("version printed %q, want %q", got, want)
		}
		if probe.UserAgent() != "pathlens/"+v {
			t.Errorf("UserAgent %q for version %q", probe.UserAgent(), v)
		}
	}
}
