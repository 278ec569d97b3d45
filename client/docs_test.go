package client

import (
	"go/ast"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
)

// libraryDocs is docs/library.md relative to this package.
const libraryDocs = "../docs/library.md"

// exported returns the package's exported constants and functions whose
// names start with prefix (non-test files).
func exported(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	_, files := probetest.PackageFiles(t)
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && strings.HasPrefix(d.Name.Name, prefix) {
					out = append(out, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok && d.Tok == token.CONST {
						for _, n := range vs.Names {
							if strings.HasPrefix(n.Name, prefix) {
								out = append(out, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return out
}

// TestLibraryDocs keeps docs/library.md in step with the code: every
// default has a row with its reason, every option a section, every
// metric a row, and every library finding a row with its severity and
// source.
func TestLibraryDocs(t *testing.T) {
	b, err := os.ReadFile(libraryDocs)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range exported(t, "Default") {
		re := regexp.MustCompile("(?m)^\\|[^\\n]*`" + name + "`[^\\n]*\\|[^|\\n]{20,}\\|\\s*$")
		if !re.MatchString(doc) {
			t.Errorf("%s: no defaults-table row with a reason in %s", name, libraryDocs)
		}
	}
	for _, name := range exported(t, "With") {
		if !regexp.MustCompile("(?m)^### .*\\b" + name + "\\b").MatchString(doc) {
			t.Errorf("option %s has no ### section in %s", name, libraryDocs)
		}
	}
	for _, m := range []string{MetricPhaseDuration, MetricRequestDuration, MetricRequests, MetricRetries, MetricRetriesStopped,
		MetricRetryAfterCap, MetricConnsOpen, MetricConnsInUse, MetricConnsIdle, MetricDials} {
		if !strings.Contains(doc, "| `"+m+"` |") {
			t.Errorf("metric %s has no row in %s", m, libraryDocs)
		}
	}
	rows := map[string]bool{}
	for _, e := range Catalogue() {
		row := "| `" + e.ID + "` | " + e.Severity + " | " + e.Source + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("finding %s: no row starting %q in %s", e.ID, row, libraryDocs)
		}
		rows[e.ID] = true
	}
	for _, id := range regexp.MustCompile("`(CLIENT_[A-Z0-9_]+)`").FindAllStringSubmatch(doc, -1) {
		if !rows[id[1]] {
			t.Errorf("%s mentions %s, which is not in Catalogue()", libraryDocs, id[1])
		}
	}
	if !strings.Contains(doc, "library findings") {
		t.Error("library.md must say that CLIENT_* IDs are library findings")
	}
}

// TestCatalogue: IDs are unique, prefixed and described; every ID
// constant is in the catalogue.
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Catalogue() {
		if seen[e.ID] || !strings.HasPrefix(e.ID, "CLIENT_") || e.Title == "" || (e.Source != "audit" && e.Source != "request") {
			t.Errorf("bad entry %+v", e)
		}
		seen[e.ID] = true
	}
	for _, id := range []string{IDNoTimeout, IDNoDialTimeout, IDDialTimeoutUnknown, IDNoTLSHandshakeTimeout, IDNoResponseHeaderTimeout,
		IDNoIdleConnTimeout, IDKeepAlivesDisabled, IDSmallIdlePool, IDInsecureSkipVerify, IDH2Disabled, IDProxyFromEnvironment,
		IDTransportUnknown, IDRetry, IDRetryAfterCapped, IDRetryStopped} {
		if !seen[id] {
			t.Errorf("%s not in Catalogue()", id)
		}
	}
}
