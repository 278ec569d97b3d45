package config

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
)

// assertKeys are the keys of the mapping form of an assert item.
var assertKeys = []string{"expr", "severity"}

// assertions compiles the assert list at path (modules.NAME.assert,
// targets[i].assert): each item an expression, or a mapping with expr
// and severity (critical by default). A bad expression fails the load at
// its line with the compiler's message (assert.Error), the text `check
// --assert` shows for it too. It returns nil for an empty list.
func (d *decoder) assertions(path string, items []yaml.Node) *assert.Set {
	var list []*assert.Assertion
	for i := range items {
		field := index(path, i)
		n := resolve(&items[i])
		var expr string
		sev := probe.SeverityCritical
		at := n
		switch {
		case isNull(n):
			d.failf(orNode(n, d.at(field)), field, "want an expression or a mapping with the keys %s, got nothing", strings.Join(assertKeys, ", "))
		case n.Kind == yaml.ScalarNode:
			expr = n.Value
		case n.Kind == yaml.MappingNode:
			at, expr, sev = d.assertMapping(field)
		default:
			d.failf(n, field, "want an expression or a mapping with the keys %s, got %s", strings.Join(assertKeys, ", "), describe(n))
		}
		a, err := assert.Compile(expr, sev)
		if err != nil {
			d.failf(at, field, "%v", err)
		}
		list = append(list, a)
	}
	if len(list) == 0 {
		return nil
	}
	return assert.NewSet(list...)
}

// assertMapping reads the mapping form of the assert item at field: its
// expression (required) and severity. It returns the node an error about
// the expression points at.
func (d *decoder) assertMapping(field string) (*yaml.Node, string, probe.Severity) {
	for _, e := range d.entries(field) {
		if e.name != "expr" && e.name != "severity" {
			d.failf(e.key, join(field, e.name), "unknown field %q (allowed: %s)", e.name, strings.Join(assertKeys, ", "))
		}
	}
	exprNode := d.val(join(field, "expr"))
	switch {
	case exprNode == nil:
		d.failf(d.at(field), join(field, "expr"), "expr is required")
	case exprNode.Kind != yaml.ScalarNode:
		d.failf(exprNode, join(field, "expr"), "want an expression (a string), got %s", describe(exprNode))
	}
	sev := probe.SeverityCritical
	if n := d.val(join(field, "severity")); n != nil {
		s := probe.Severity(strings.ToLower(strings.TrimSpace(n.Value)))
		if n.Kind != yaml.ScalarNode || s.Rank() == 0 {
			d.failf(n, join(field, "severity"), "want critical, warning or info, got %s", quotedOrShape(n))
		}
		sev = s
	}
	return exprNode, exprNode.Value, sev
}

// quotedOrShape is a scalar's value quoted, else what the node holds.
func quotedOrShape(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return `"` + n.Value + `"`
	}
	return describe(n)
}
