package cli

import (
	"strconv"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
)

// assertOptions compiles the --assert expressions into o.Assertions. A
// bad one is `check: --assert "EXPR": MSG`, MSG being the text the
// config loader shows for the same expression (assert.Error).
func (f *checkFlags) assertOptions(o *probe.Options) error {
	if len(f.asserts) == 0 {
		return nil
	}
	list := make([]*assert.Assertion, 0, len(f.asserts))
	for _, expr := range f.asserts {
		a, err := assert.Compile(expr, probe.SeverityCritical)
		if err != nil {
			return usagef("check: --assert %s: %v", strconv.Quote(expr), err)
		}
		list = append(list, a)
	}
	o.Assertions = assert.NewSet(list...)
	return nil
}
