package probe_test

import (
	"go/ast"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
	"google.golang.org/grpc/codes"
)

// resultDocs is docs/result.md relative to this package.
const resultDocs = "../docs/result.md"

// documentedCauses returns the causes the "Error causes" section of
// docs/result.md lists, one table row each: | `cause` | class | meaning |.
func documentedCauses(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(resultDocs)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## Error causes\n")
	if i < 0 {
		t.Fatalf("%s has no \"## Error causes\" section", resultDocs)
	}
	sec := doc[i+1:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| ([^|]*)\\|([^|]*)\\|")
	var out []string
	for _, m := range row.FindAllStringSubmatch(sec, -1) {
		if strings.TrimSpace(m[2]) == "" || strings.TrimSpace(m[3]) == "" {
			t.Errorf("%s: cause %s has no class or no meaning", resultDocs, m[1])
		}
		out = append(out, m[1])
	}
	return out
}

// declaredCauses returns the values of the Cause constants declared in
// this package's non-test files.
func declaredCauses(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset, files := probetest.PackageFiles(t)
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Cause" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: %s is not a string literal", fset.Position(n.Pos()), n.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					out[n.Name] = v
				}
			}
		}
	}
	return out
}

// TestCausesDocumented: Causes, the Cause constants and the table of
// docs/result.md hold the same causes, each once.
func TestCausesDocumented(t *testing.T) {
	causes := probe.Causes()
	seen := map[string]bool{}
	for _, c := range causes {
		if seen[c] {
			t.Errorf("Causes lists %q twice", c)
		}
		seen[c] = true
	}
	var declared []string
	for name, v := range declaredCauses(t) {
		if !seen[v] {
			t.Errorf("%s = %q is not in Causes()", name, v)
		}
		declared = append(declared, v)
	}
	for _, c := range causes {
		if !slices.Contains(declared, c) {
			t.Errorf("Causes() lists %q, which no Cause constant declares", c)
		}
	}
	documented := documentedCauses(t)
	docSeen := map[string]bool{}
	for _, c := range documented {
		if docSeen[c] {
			t.Errorf("%s lists %q twice", resultDocs, c)
		}
		docSeen[c] = true
		if !seen[c] {
			t.Errorf("%s documents %q, which is not in Causes()", resultDocs, c)
		}
	}
	for _, c := range causes {
		if !docSeen[c] {
			t.Errorf("cause %q is not documented in %s (section Error causes)", c, resultDocs)
		}
	}
}

// TestCauseFamilies: the rcode, verify and gRPC code families map every
// value their source knows to a cause of Causes(), named as before.
func TestCauseFamilies(t *testing.T) {
	all := probe.Causes()
	for rcode, name := range dns.RcodeToString {
		got := probe.RcodeCause(rcode)
		if rcode == dns.RcodeSuccess {
			if got != "" {
				t.Errorf("RcodeCause(NOERROR) = %q, want none", got)
			}
			continue
		}
		if got != strings.ToLower(name) || !slices.Contains(all, got) {
			t.Errorf("RcodeCause(%d) = %q, want %q, one of Causes()", rcode, got, strings.ToLower(name))
		}
	}
	if got := probe.RcodeCause(12); got != "" {
		t.Errorf("RcodeCause(12) = %q, want none for an rcode without a name", got)
	}
	for _, reason := range []string{"hostname", "expired", "not_yet_valid", "unknown_authority", "invalid", "other"} {
		got := probe.VerifyCause(reason)
		if got != "verify_"+reason || !slices.Contains(all, got) || !probe.IsVerifyCause(got) {
			t.Errorf("VerifyCause(%q) = %q, want verify_%s, one of Causes()", reason, got, reason)
		}
	}
	if probe.IsVerifyCause(probe.CauseNotTLS) {
		t.Error("IsVerifyCause(not_tls) = true")
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		got := probe.GRPCCodeCause(uint32(c))
		if want := snake(c.String()); got != want || !slices.Contains(all, got) {
			t.Errorf("GRPCCodeCause(%v) = %q, want %q, one of Causes()", c, got, want)
		}
	}
	if got := probe.GRPCCodeCause(0); got != "" {
		t.Errorf("GRPCCodeCause(OK) = %q, want none", got)
	}
	if got := probe.GRPCCodeCause(99); got != probe.CauseCodeUnknown {
		t.Errorf("GRPCCodeCause(99) = %q, want unknown", got)
	}
}

// snake turns "DeadlineExceeded" into "deadline_exceeded".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
