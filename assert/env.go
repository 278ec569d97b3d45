package assert

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"

	"github.com/pathlens/pathlens/probe"
)

// The variables an expression reads (docs/assertions.md). phasesVar and
// phaseFunc are what the phase macro expands to; an expression cannot
// name them (CEL identifiers cannot start with '@').
const (
	varResult = "r"
	varBody   = "body"
	varJSON   = "json"
	phasesVar = "@phases"
	phaseFunc = "@phase"
)

// env is the one CEL environment every assertion is compiled in.
var env = sync.OnceValues(func() (*cel.Env, error) {
	phases := cel.MapType(cel.StringType, cel.DurationType)
	return cel.NewEnv(
		cel.Variable(varResult, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varBody, cel.StringType),
		cel.Variable(varJSON, cel.DynType),
		cel.Variable(phasesVar, phases),
		cel.CrossTypeNumericComparisons(true),
		cel.EnableMacroCallTracking(),
		cel.OptionalTypes(),
		ext.Strings(),
		cel.Macros(cel.GlobalMacro("phase", 1, expandPhase), cel.GlobalMacro("phase", 2, expandPhase)),
		cel.Function(phaseFunc,
			cel.Overload("phase_string", []*cel.Type{phases, cel.StringType}, cel.DurationType,
				cel.BinaryBinding(func(m, name ref.Val) ref.Val { return phaseOf(m, name, nil) })),
			cel.Overload("phase_string_duration", []*cel.Type{phases, cel.StringType, cel.DurationType}, cel.DurationType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val { return phaseOf(args[0], args[1], args[2]) })),
		),
	)
})

// expandPhase turns phase(NAME) and phase(NAME, DEFAULT) into calls that
// read the Result's phases. A name written as a literal must be a phase
// pathlens knows, so that a typo is a compile error, not a failing
// assertion.
func expandPhase(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	if lit := args[0]; lit.Kind() == ast.LiteralKind {
		name, ok := lit.AsLiteral().(types.String)
		if !ok {
			return nil, eh.NewError(lit.ID(), "phase() takes a phase name (a string)")
		}
		if !slices.Contains(probe.Phases, string(name)) {
			return nil, eh.NewError(lit.ID(), fmt.Sprintf("%q is not a phase (phases: %s)", string(name), strings.Join(probe.Phases, ", ")))
		}
	}
	return eh.NewCall(phaseFunc, append([]ast.Expr{eh.NewIdent(phasesVar)}, args...)...), nil
}

// phaseOf is the duration of the phase called name in the phases map m,
// else def; an error naming the phases there are when def is nil.
func phaseOf(m, name, def ref.Val) ref.Val {
	mp, ok := m.(traits.Mapper)
	if !ok {
		return types.NewErr("no phases")
	}
	if v, found := mp.Find(name); found {
		return v
	}
	if def != nil {
		return def
	}
	var have []string
	for _, p := range probe.Phases {
		if _, found := mp.Find(types.String(p)); found {
			have = append(have, p)
		}
	}
	list := "none"
	if len(have) > 0 {
		list = strings.Join(have, ", ")
	}
	return types.NewErr("the probe has no %s phase (it has %s); phase(%q, duration(\"0s\")) gives a default", name, list, name)
}

// phasesOf maps each phase of r to its duration (the last of a name,
// as the diagnosis reads it; an incomplete phase counts the time spent).
func phasesOf(r *probe.Result) map[string]time.Duration {
	m := make(map[string]time.Duration, len(r.Phases))
	for _, p := range r.Phases {
		m[p.Name] = time.Duration(math.Round(p.DurationMS*1000)) * time.Microsecond
	}
	return m
}
