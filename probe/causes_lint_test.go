package probe_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoLiteralCauses: no non-test Go file of the module writes a cause as
// a string literal — as Errorf's cause, a Cause field, a comparison with
// a Cause field or a variable named cause — so every producer and every
// consumer uses the Cause constants. The empty string (no cause) is
// allowed.
func TestNoLiteralCauses(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	var bad []string
	report := func(n ast.Node, what string) {
		bad = append(bad, fset.Position(n.Pos()).String()+": "+what)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || n == "vendor" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isErrorf(n.Fun) && len(n.Args) >= 3 && hasLiteral(n.Args[2]) {
					report(n.Args[2], "Errorf with a literal cause")
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, "strings") {
					for _, a := range n.Args {
						if isCauseExpr(a) && slices.ContainsFunc(n.Args, hasLiteral) {
							report(n, "strings."+sel.Sel.Name+" on a cause with a literal")
						}
					}
				}
			case *ast.KeyValueExpr:
				if isIdent(n.Key, "Cause") && hasLiteral(n.Value) {
					report(n.Value, "Cause: with a literal")
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if i < len(n.Rhs) && len(n.Lhs) == len(n.Rhs) && isCauseExpr(l) && hasLiteral(n.Rhs[i]) {
						report(n.Rhs[i], "a literal assigned to a cause")
					}
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i < len(n.Values) && isCauseExpr(name) && hasLiteral(n.Values[i]) {
						report(n.Values[i], "a cause variable set to a literal")
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) &&
					((isCauseExpr(n.X) && hasLiteral(n.Y)) || (isCauseExpr(n.Y) && hasLiteral(n.X))) {
					report(n, "a cause compared with a literal")
				}
			case *ast.SwitchStmt:
				if n.Tag != nil && isCauseExpr(n.Tag) {
					for _, s := range n.Body.List {
						for _, e := range s.(*ast.CaseClause).List {
							if hasLiteral(e) {
								report(e, "a switch on a cause with a literal case")
							}
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// isErrorf reports whether fun is probe.Errorf (or Errorf inside package
// probe).
func isErrorf(fun ast.Expr) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name == "Errorf"
	case *ast.SelectorExpr:
		return f.Sel.Name == "Errorf" && isIdent(f.X, "probe")
	}
	return false
}

// isCauseExpr reports whether e is a cause: a field X.Cause or a variable
// named cause.
func isCauseExpr(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		return e.Sel.Name == "Cause"
	case *ast.Ident:
		return e.Name == "cause"
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// hasLiteral reports whether e holds a non-empty string literal.
func hasLiteral(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value != `""` && lit.Value != "``" {
			found = true
		}
		return !found
	})
	return found
}
