package probe

import (
	"testing"
	"time"
)

// TestResumptionMemoryDue: a verdict is carried for the same server and
// leaf until Every has passed; a new address, a new certificate, an
// expired verdict or an untested check make the check due again.
func TestResumptionMemoryDue(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := &ResumptionMemory{Every: 10 * time.Minute, now: func() time.Time { return now }}
	if m.carried("a:443", "leaf1") != nil {
		t.Fatal("a new memory carried a verdict")
	}
	m.remember("a:443", "leaf1", &ResumptionCheck{Tested: true, Resumed: false, HandshakeMS: 3})
	now = now.Add(4 * time.Minute)
	rc := m.carried("a:443", "leaf1")
	if rc == nil || !rc.Carried || rc.AgeS != 240 || rc.Resumed || rc.HandshakeMS != 3 {
		t.Fatalf("carried = %+v, want the verdict, carried, 240 s old", rc)
	}
	for _, c := range []struct{ why, addr, leaf string }{
		{"address changed", "b:443", "leaf1"},
		{"certificate changed", "a:443", "leaf2"},
	} {
		if m.carried(c.addr, c.leaf) != nil {
			t.Errorf("%s: verdict carried, want the check due", c.why)
		}
	}
	now = now.Add(6 * time.Minute)
	if m.carried("a:443", "leaf1") != nil {
		t.Error("verdict carried after Every passed")
	}
	m.remember("a:443", "leaf1", &ResumptionCheck{Tested: false, Error: "no budget left"})
	if m.carried("a:443", "leaf1") != nil {
		t.Error("an untested check replaced the verdict and was carried")
	}
	if (&ResumptionMemory{}).carried("a:443", "leaf1") != nil {
		t.Error("Every 0 carried a verdict")
	}
}
