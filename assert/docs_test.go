package assert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
)

const docsPath = "../docs/assertions.md"

// docExample is one row of the examples table.
type docExample struct {
	expr, probed string
	holds        bool
}

func readDocs(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// block is the text after the marker line up to the next blank line
// (a table) or the end of the fenced block that follows it.
func block(t testing.TB, doc, marker string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, marker+"\n")
	if !ok {
		t.Fatalf("%s has no %s", docsPath, marker)
	}
	if strings.HasPrefix(rest, "```") {
		_, rest, _ = strings.Cut(rest, "\n")
		body, _, _ := strings.Cut(rest, "```")
		return body
	}
	body, _, _ := strings.Cut(rest, "\n\n")
	return body
}

var rowRE = regexp.MustCompile("^\\| `(.+)` \\| `([a-z0-9-]+)` \\| (yes|no) \\|$")

// docExamples are the rows of the examples table.
func docExamples(t testing.TB) []docExample {
	var out []docExample
	for _, line := range strings.Split(block(t, readDocs(t), "<!-- examples -->"), "\n")[2:] {
		m := rowRE.FindStringSubmatch(strings.ReplaceAll(line, `\|`, "|"))
		if m == nil {
			t.Fatalf("examples row %q does not read as | `EXPR` | `TARGET` | yes/no |", line)
		}
		out = append(out, docExample{m[1], m[2], m[3] == "yes"})
	}
	if len(out) < 20 {
		t.Fatalf("%d examples read from %s", len(out), docsPath)
	}
	return out
}

// Every example of the table gives what it says against a real probe of
// its target.
func TestDocExamples(t *testing.T) {
	results := map[string]*probe.Result{}
	for _, ex := range docExamples(t) {
		r := results[ex.probed]
		if r == nil {
			r = labResult(t, ex.probed)
			if !r.Success {
				t.Fatalf("%s failed: %+v", ex.probed, r.Error)
			}
			results[ex.probed] = r
		}
		a, err := assert.Compile(ex.expr, "")
		if err != nil {
			t.Errorf("%s: %v", ex.expr, err)
			continue
		}
		got, err := a.Eval(context.Background(), r)
		if holds := err == nil && got == true; holds != ex.holds {
			t.Errorf("%s on %s: gave %v, %v; the docs say holds %v", ex.expr, ex.probed, got, err, ex.holds)
		}
	}
}

// The evidence shown is what engine.Check gives, the advice aside.
func TestDocEvidence(t *testing.T) {
	for _, path := range []string{docsPath, "../docs/findings.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(b)
		text := ""
		if path == docsPath {
			text = block(t, doc, "<!-- evidence: ok-http r.http.status == 201 -->")
		} else {
			_, rest, _ := strings.Cut(doc, "## ASSERTION_FAILED\n")
			_, rest, _ = strings.Cut(rest, "```json\n")
			text, _, _ = strings.Cut(rest, "```")
		}
		var want probe.Finding
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("%s: the evidence example does not parse: %v\n%s", path, err, text)
		}
		f := finding(check(t, "ok-http", "r.http.status == 201"))
		if f == nil {
			t.Fatal("no ASSERTION_FAILED")
		}
		got, _ := json.Marshal(f)
		var back probe.Finding
		_ = json.Unmarshal(got, &back)
		back.Advice, want.Advice = "", ""
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s shows\n%+v\nengine.Check gives\n%+v", path, want, back)
		}
	}
}

// The error lines are what Compile says, after the flag.
func TestDocErrors(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(block(t, readDocs(t), "<!-- errors -->")), "\n")
	re := regexp.MustCompile(`^check: --assert ("(?:[^"\\]|\\.)*"): (.*)$`)
	for _, line := range lines {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("error line %q does not read as check: --assert \"EXPR\": MSG", line)
		}
		expr, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatal(err)
		}
		_, cerr := assert.Compile(expr, "")
		if cerr == nil || cerr.Error() != m[2] {
			t.Errorf("%s: Compile says %v, the docs %q", expr, cerr, m[2])
		}
	}
}

// The config example loads, with its assertions.
func TestDocConfig(t *testing.T) {
	c, err := config.Parse("assertions.yaml", []byte(block(t, readDocs(t), "<!-- config -->")))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := c.Target("orders")
	if tg == nil || tg.Assert.Len() != 3 || tg.Assert.List()[2].Severity() != probe.SeverityWarning {
		t.Errorf("orders: assert %v, want the module's one and its own two", tg.Assert.List())
	}
}

// The limits the docs state are the package's.
func TestDocLimits(t *testing.T) {
	doc := readDocs(t)
	for _, want := range []string{
		"at most " + commas(assert.CostLimit) + " units",
		fmt.Sprintf("at most %d ms (`assert.Timeout`)", assert.Timeout/time.Millisecond),
		"at most 8 values per assertion, each cut to 256 bytes",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("%s does not say %q", docsPath, want)
		}
	}
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// BenchmarkEval is the cost of each example of docs/assertions.md:
// Set.Check of one assertion against the real Result of its target, the
// r view, the body and the JSON built afresh as for every probe.
func BenchmarkEval(b *testing.B) {
	results := map[string]*probe.Result{}
	for _, ex := range docExamples(b) {
		r := results[ex.probed]
		if r == nil {
			r = labResult(b, ex.probed)
			results[ex.probed] = r
		}
		set := assert.NewSet(assert.MustCompile(ex.expr, ""))
		b.Run(ex.expr+" on "+ex.probed, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				set.Check(ctx, r)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/eval")
		})
	}
}
