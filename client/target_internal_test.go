package client

import (
	"net/url"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// Result.Target is memoised per transport: the same URL gives the same
// string, another URL its own, and user info is always redacted.
func TestTargetMemo(t *testing.T) {
	tr := New(WithObserver(func(probe.Result) {})).Transport.(*Transport)
	u1, _ := url.Parse("https://api.example.com/v1/items?page=2")
	u2, _ := url.Parse("https://api.example.com/v1/items?page=3")
	u3, _ := url.Parse("https://bob:hunter2@api.example.com/v1/items?page=2")
	for range 2 {
		if got := tr.target(u1); got != u1.String() {
			t.Fatalf("target(u1) = %q", got)
		}
	}
	if got := tr.target(u2); got != u2.String() {
		t.Fatalf("target(u2) = %q, want %q", got, u2.String())
	}
	for range 2 {
		got := tr.target(u3)
		if got != u3.Redacted() || got == u3.String() {
			t.Fatalf("target(u3) = %q: user info not redacted", got)
		}
	}
	if got := tr.target(u1); got != u1.String() {
		t.Fatalf("target(u1) after others = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = tr.target(u1) }); n != 0 {
		t.Errorf("a repeated URL costs %v allocations", n)
	}
}
