package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mergeBomb is a config of under 600 bytes whose merge keys expand to
// fan^levels mappings: each module merges fan copies of the one before.
// Walked in full (as the loader did), 9 levels of 8 take about a minute.
func mergeBomb(levels, fan int) string {
	var b strings.Builder
	b.WriteString("modules:\n  l0: &l0 {kind: http, timeout: 1s}\n")
	for i := 1; i <= levels; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), fan), ",")
		fmt.Fprintf(&b, "  l%d: &l%d {<<: [%s]}\n", i, i, refs)
	}
	return b.String()
}

func TestMergeKeyBombRefused(t *testing.T) {
	text := mergeBomb(9, 8)
	if len(text) > 600 {
		t.Fatalf("bomb is %d bytes", len(text))
	}
	file := filepath.Join(t.TempDir(), "bomb.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	want := file + ":7: the document expands to more than 100000 nodes through aliases and merge keys"
	if err == nil || err.Error() != want {
		t.Fatalf("Load(bomb) = %v, want %s", err, want)
	}
}

// A list bomb (billion laughs) is refused the same way, wherever it is.
func TestAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("modules:\n  m:\n    kind: http\n    http:\n      headers: {X-A: b}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*x%d,", i-1), 10), ","))
	}
	_, err := Parse("b.yaml", []byte(b.String()))
	if err == nil || !strings.HasSuffix(err.Error(), ": the document expands to more than 100000 nodes through aliases and merge keys") {
		t.Fatalf("Parse(list bomb) = %v", err)
	}
	if ce, ok := err.(*Error); !ok || ce.Line < 7 {
		t.Errorf("error %#v: want an *Error with the line of an alias", err)
	}
}

func TestAliasLimits(t *testing.T) {
	// Ordinary reuse loads: a module merged into many others.
	var b strings.Builder
	b.WriteString("modules:\n  base: &base {kind: http, timeout: 4s, http: {headers: {X-A: b, X-B: c}, valid_status: [200, 204]}}\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  m%d: {<<: *base, timeout: 5s}\n", i)
	}
	c, err := Parse("ok.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Modules["m199"]; m == nil || m.Kind != "http" || m.HTTP.Headers["X-B"] != "c" {
		t.Errorf("m199 = %+v", m)
	}

	// An alias inside the node it names.
	for text, line := range map[string]int{
		"modules:\n  a: &a {kind: http, <<: *a}\n":              2,
		"targets: &t\n  - *t\n":                                 2,
		"modules:\n  a: &a {kind: http, http: {headers: *a}}\n": 2,
	} {
		_, err := Parse("c.yaml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "refers to a node that contains it") || err.(*Error).Line != line {
			t.Errorf("Parse(%q) = %v, want a self-reference error at line %d", text, err, line)
		}
	}

	// Parse refuses what Load would not read.
	_, err = Parse("big.yaml", make([]byte, maxConfigSize+1))
	if err == nil || err.Error() != "big.yaml: config is larger than 16 MiB" {
		t.Errorf("Parse(16 MiB + 1) = %v", err)
	}
}
