// Package assert compiles a user's assertions — CEL expressions over a
// probe's Result, such as `r.http.status == 200` or
// `phase("wait") < duration("200ms")` — and evaluates them for
// engine.Check, which adds the ASSERTION_FAILED finding when one does not
// hold (docs/assertions.md). Expressions are parsed and type-checked at
// load, so a bad one stops `check` or a config load; every evaluation is
// bounded by CostLimit and Timeout.
//
// A Set implements probe.Assertions: front ends put one in
// probe.Options.Assertions, and the http prober keeps the response body
// (bounded by the max body setting) only when an assertion reads body or
// json.
package assert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"github.com/google/cel-go/parser"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
)

// Bounds of one evaluation. CostLimit is CEL's runtime cost (about one
// unit per operation, a tenth of a unit per byte a string function
// reads: a search of a 10 MiB body costs about 1,000,000); Timeout stops
// an evaluation that runs longer, comprehensions included. Either ends
// the evaluation with an error, which fails the assertion.
const (
	CostLimit = 10_000_000
	Timeout   = 250 * time.Millisecond
)

// Bounds of the evidence of a failed assertion: the values of at most
// maxValues selections and calls, each at most maxValueLen bytes of JSON
// (a longer one is shown as its text cut there).
const (
	maxValues      = 8
	maxValueLen    = 256
	interruptEvery = 100 // comprehension steps between two looks at the deadline
	maxIssues      = 3   // compile errors shown of one expression
)

// Error is an expression that does not compile. Its text is the message
// both front ends show after naming where the expression came from
// (`check: --assert "EXPR": MSG`, `FILE:LINE: targets[0].assert[0]: MSG`).
type Error struct {
	Expr string // the expression as written
	Msg  string // why it does not compile, on one line
}

// Error is Msg: the caller names where the expression came from.
func (e *Error) Error() string { return e.Msg }

// Assertion is one compiled expression and its severity.
type Assertion struct {
	expr     string
	severity probe.Severity
	prg      cel.Program
	values   []valueProgram
	reads    map[string]bool // the variables it names: r, body, json, @phases
}

// valueProgram evaluates one selection or call the expression names
// (its text as written) for the evidence of a failure.
type valueProgram struct {
	text string
	prg  cel.Program
}

// Compile parses and type-checks expr into an assertion of severity
// ("" is critical). The expression must give a bool: one whose type is
// known not to be bool (an int, a string, …) is refused here; one of
// dynamic type (json.ready) fails at run time unless it is true.
func Compile(expr string, severity probe.Severity) (*Assertion, error) {
	if severity == "" {
		severity = probe.SeverityCritical
	}
	if severity.Rank() == 0 {
		return nil, &Error{Expr: expr, Msg: fmt.Sprintf("severity %q: want critical, warning or info", severity)}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &Error{Expr: expr, Msg: "empty expression (write e.g. r.http.status == 200)"}
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("assert: CEL environment: %w", err)
	}
	checked, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, &Error{Expr: expr, Msg: issuesText(expr, iss.Errors())}
	}
	if k := checked.OutputType().Kind(); k != types.BoolKind && k != types.DynKind {
		return nil, &Error{Expr: expr, Msg: fmt.Sprintf("the expression gives %s, want a bool (such as r.http.status == 200)", checked.OutputType())}
	}
	a := &Assertion{expr: expr, severity: severity, reads: map[string]bool{}}
	if a.prg, err = e.Program(checked, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(interruptEvery)); err != nil {
		return nil, &Error{Expr: expr, Msg: err.Error()}
	}
	for _, ref := range checked.NativeRep().ReferenceMap() {
		switch ref.Name {
		case varResult, varBody, varJSON, phasesVar:
			a.reads[ref.Name] = true
		}
	}
	texts := valueTexts(checked.NativeRep())
	if a.reads[varBody] {
		texts = append(texts, "size(body)") // the body itself is never shown
	}
	for _, text := range texts {
		sub, iss := e.Compile(text)
		if iss.Err() != nil {
			continue
		}
		if p, err := e.Program(sub, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(interruptEvery)); err == nil {
			a.values = append(a.values, valueProgram{text: text, prg: p})
		}
	}
	return a, nil
}

// issuesText is CEL's compile errors of expr as one line: where (the
// column, and the line of a multi-line expression) and what.
func issuesText(expr string, errs []*common.Error) string {
	multi := strings.Contains(expr, "\n")
	var parts []string
	for i, e := range errs {
		if i == maxIssues {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-maxIssues))
			break
		}
		where := ""
		if loc := e.Location; loc != nil && loc.Line() > 0 {
			where = fmt.Sprintf("column %d: ", loc.Column()+1)
			if multi {
				where = fmt.Sprintf("line %d, column %d: ", loc.Line(), loc.Column()+1)
			}
		}
		parts = append(parts, where+strings.Join(strings.Fields(e.Message), " "))
	}
	return strings.Join(parts, "; ")
}

// MustCompile is Compile for expressions known to be good (tests,
// built-in configs); it panics on an error.
func MustCompile(expr string, severity probe.Severity) *Assertion {
	a, err := Compile(expr, severity)
	if err != nil {
		panic(fmt.Sprintf("assert: %q: %v", expr, err))
	}
	return a
}

// Expr is the expression as written.
func (a *Assertion) Expr() string { return a.expr }

// Severity is the severity of the ASSERTION_FAILED finding it gives.
func (a *Assertion) Severity() probe.Severity { return a.severity }

// ReadsBody reports whether the expression reads the response body
// (body or json), so that the prober must keep it.
func (a *Assertion) ReadsBody() bool { return a.reads[varBody] || a.reads[varJSON] }

// Eval evaluates the assertion against r and returns what it gave
// (true when it holds) or why it could not be evaluated. Unlike
// Set.Check it evaluates a failed probe's Result too.
func (a *Assertion) Eval(ctx context.Context, r *probe.Result) (any, error) {
	out, err := a.eval(ctx, newActivation(r))
	if err != nil {
		return nil, err
	}
	return plain(out), nil
}

func (a *Assertion) eval(ctx context.Context, act *activation) (ref.Val, error) {
	return evalBounded(ctx, a.prg, act)
}

// evalTimeout is Timeout; tests shorten it.
var evalTimeout = Timeout

// errTimeout is the cause of an evaluation stopped by evalTimeout.
var errTimeout = errors.New("assertion timeout")

// evalBounded runs p within CostLimit and evalTimeout, with the errors
// worded for people.
func evalBounded(ctx context.Context, p cel.Program, act *activation) (ref.Val, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, evalTimeout, errTimeout)
	defer cancel()
	out, _, err := p.ContextEval(ctx, act)
	if err == nil {
		return out, nil
	}
	var cancelled interpreter.EvalCancelledError
	switch {
	case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
		return nil, fmt.Errorf("the evaluation went over the cost limit of %d", CostLimit)
	case errors.Is(err, errTimeout):
		return nil, fmt.Errorf("the evaluation took longer than %s", evalTimeout)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, fmt.Errorf("the evaluation was stopped: %w", context.Cause(ctx))
	}
	return nil, err
}

// failure evaluates a and describes how it failed; ok when it holds.
func (a *Assertion) failure(ctx context.Context, act *activation) (f diagnose.AssertionFailure, ok bool) {
	out, err := a.eval(ctx, act)
	if err == nil && out == types.True {
		return f, true
	}
	f = diagnose.AssertionFailure{Expr: a.expr, Severity: a.severity}
	if err != nil {
		f.Err = err.Error()
	} else {
		f.Result = bounded(plain(out))
	}
	for _, v := range a.values {
		if len(f.Values) == maxValues {
			break
		}
		if val, err := evalBounded(ctx, v.prg, act); err == nil {
			if f.Values == nil {
				f.Values = map[string]any{}
			}
			f.Values[v.text] = bounded(plain(val))
		}
	}
	return f, false
}

// Set is a list of assertions evaluated together: it implements
// probe.Assertions. A Set is read-only once built and safe for any
// number of probes at once.
type Set struct {
	list []*Assertion
	body bool
}

// NewSet is the set of the assertions, in order.
func NewSet(as ...*Assertion) *Set {
	s := &Set{list: slices.Clone(as)}
	for _, a := range as {
		s.body = s.body || a.ReadsBody()
	}
	return s
}

// Join is a new set with s's assertions, then more's (a serve target's
// module's, then its own). Either may be nil.
func (s *Set) Join(more *Set) *Set {
	return NewSet(append(slices.Clone(s.List()), more.List()...)...)
}

// List is the set's assertions, in order.
func (s *Set) List() []*Assertion {
	if s == nil {
		return nil
	}
	return s.list
}

// Len is how many assertions the set holds.
func (s *Set) Len() int { return len(s.List()) }

// NeedsBody reports whether an assertion reads the response body.
func (s *Set) NeedsBody() bool { return s != nil && s.body }

// Check evaluates every assertion against r and returns the one
// ASSERTION_FAILED finding of those that are not true (nothing when all
// hold). A failed probe is not checked: it is failing already, and its
// Result lacks what the expressions read.
func (s *Set) Check(ctx context.Context, r *probe.Result) []probe.Finding {
	if s.Len() == 0 || r == nil || !r.Success {
		return nil
	}
	act := newActivation(r)
	var failed []diagnose.AssertionFailure
	for _, a := range s.list {
		if f, ok := a.failure(ctx, act); !ok {
			failed = append(failed, f)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return []probe.Finding{diagnose.AssertionFailed(failed, len(s.list))}
}

// activation resolves the variables of one Result, each built on first
// use and kept for the other assertions of the same Check.
type activation struct {
	r            *probe.Result
	view, phases any
	body, json   any
}

func newActivation(r *probe.Result) *activation { return &activation{r: r} }

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varResult:
		if a.view == nil {
			a.view = newLazyView(a.r)
		}
		return a.view, true
	case varBody:
		if a.body == nil {
			a.body = types.String(a.r.Body)
		}
		return a.body, true
	case varJSON:
		if a.json == nil {
			a.json = a.parseJSON()
		}
		return a.json, true
	case phasesVar:
		if a.phases == nil {
			a.phases = phasesOf(a.r)
		}
		return a.phases, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// parseJSON is the body decoded as JSON (numbers as doubles, as CEL
// reads JSON), or an error value that fails whatever reads it.
func (a *activation) parseJSON() any {
	switch {
	case a.r.HTTP == nil:
		return types.NewErr("json: this probe has no HTTP response body (json reads the body of an http or https probe)")
	case len(a.r.Body) == 0:
		return types.NewErr("json: the response body is empty, not JSON")
	}
	var v any
	if err := json.Unmarshal(a.r.Body, &v); err != nil {
		msg := "json: the response body is not JSON: " + err.Error()
		if a.r.HTTP.BodyLimited {
			msg += fmt.Sprintf(" (the body was cut at the max body of %d bytes)", a.r.HTTP.MaxBody)
		}
		return types.NewErr("%s", msg)
	}
	return v
}

// plain is a CEL value as a plain Go value fit for JSON evidence:
// durations as Go writes them ("12.5ms"), timestamps in RFC 3339.
func plain(v ref.Val) any {
	switch x := v.(type) {
	case nil:
		return nil
	case types.Duration:
		return x.Duration.String()
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano)
	case types.Null:
		return nil
	case types.Bool, types.Int, types.Uint, types.Double, types.String:
		return x.Value()
	case types.Bytes:
		return string(x)
	case *types.Optional:
		if !x.HasValue() {
			return "optional.none()"
		}
		return plain(x.GetValue())
	case traits.Lister:
		n, _ := x.Size().(types.Int)
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			out = append(out, plain(x.Get(i)))
		}
		return out
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			out[fmt.Sprint(plain(k))] = plain(x.Get(k))
		}
		return out
	}
	if _, ok := v.Value().(error); ok {
		return v.Type().TypeName()
	}
	return v.Value()
}

// bounded is v, or its JSON text cut to maxValueLen when that is longer.
func bounded(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) <= maxValueLen {
		return v
	}
	s := string(b[:maxValueLen])
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// comparisons and logic are the operators whose operands the evidence
// shows (r.http.status in r.http.status == 200).
var walkThrough = map[string]bool{
	operators.Equals: true, operators.NotEquals: true, operators.Less: true, operators.LessEquals: true,
	operators.Greater: true, operators.GreaterEquals: true, operators.In: true,
	operators.LogicalAnd: true, operators.LogicalOr: true, operators.LogicalNot: true,
	operators.Conditional: true, operators.NotStrictlyFalse: true,
}

// valueTexts lists, as written, the selections and calls of the
// expression's top level whose values explain a failure: the operands of
// its comparisons and logic, the receiver of a method call, the range of
// a comprehension — never body, json or r as a whole, and not the
// expression itself (its value is the result).
func valueTexts(a *ast.AST) []string {
	var out []string
	info := a.SourceInfo()
	add := func(e ast.Expr) {
		if !readsVariable(e) {
			return // a constant such as duration("200ms")
		}
		s, err := parser.Unparse(e, info)
		if err == nil && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	var walk func(e ast.Expr, root bool)
	walk = func(e ast.Expr, root bool) {
		switch e.Kind() {
		case ast.LiteralKind, ast.ListKind, ast.MapKind, ast.StructKind:
		case ast.IdentKind:
			// r, body, json and @phases are too big or not for people.
		case ast.SelectKind:
			if !root {
				add(e)
			}
		case ast.ComprehensionKind:
			walk(e.AsComprehension().IterRange(), false)
		case ast.CallKind:
			c := e.AsCall()
			switch {
			case walkThrough[c.FunctionName()]:
				for _, arg := range c.Args() {
					walk(arg, false)
				}
			case c.FunctionName() == phaseFunc:
				if !root {
					add(e)
				}
			default:
				if !root {
					add(e)
				}
				if c.IsMemberFunction() {
					walk(c.Target(), false)
				}
			}
		}
	}
	walk(a.Expr(), true)
	return out
}

// readsVariable reports whether e names one of the variables (and so is
// not a constant).
func readsVariable(e ast.Expr) bool {
	found := false
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.IdentKind {
			switch x.AsIdent() {
			case varResult, varBody, varJSON, phasesVar:
				found = true
			}
		}
	}))
	return found
}
