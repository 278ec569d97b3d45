package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/probe"
)

// reservedLabels are the label names pathlens' own metrics carry.
var reservedLabels = []string{"target", "module", "phase", "id", "severity", "result", "subject"}

// target stays one function: name, url, module, interval/timeout, labels and the ws budget each check against the nodes and notes found before them.
func (d *decoder) target(c *Config, n *yaml.Node, path string, first map[string]int) *Target {
	if isNull(n) || n.Kind != yaml.MappingNode {
		d.failf(n, path, "want a mapping with the keys %s, got %s", strings.Join(targetKeys, ", "), describe(n))
	}
	tm := d.mapping(nil, n, path, targetKeys)
	t := &Target{}

	// name
	nameNode := tm.str("name", &t.Name)
	switch {
	case nameNode == nil || strings.TrimSpace(t.Name) == "":
		at := nameNode
		if at == nil {
			at = n
		}
		d.failf(at, tm.field("name"), "name is required")
	case t.Name != strings.TrimSpace(t.Name):
		d.failf(nameNode, tm.field("name"), "name %q starts or ends with a space", t.Name)
	case strings.ContainsFunc(t.Name, func(r rune) bool { return r == '/' || unicode.IsControl(r) }):
		d.failf(nameNode, tm.field("name"), "name %q must not contain '/' or control characters", t.Name)
	}
	if line, dup := first[t.Name]; dup {
		d.failf(nameNode, tm.field("name"), "duplicate target name %q (first at line %d)", t.Name, line)
	}
	first[t.Name] = nameNode.Line

	// url
	urlNode := tm.str("url", &t.URL)
	if urlNode == nil || strings.TrimSpace(t.URL) == "" {
		at := urlNode
		if at == nil {
			at = n
		}
		d.failf(at, tm.field("url"), "url is required")
	}
	parsed, err := probe.ParseTarget(t.URL)
	if err != nil {
		var pe *probe.PhaseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.failf(urlNode, tm.field("url"), "%v", err)
	}
	t.Parsed = parsed
	kind := KindOf(parsed.Kind)
	if _, ok := probe.LookupKind(kind); !ok {
		d.failf(urlNode, tm.field("url"), "probe kind %s is not available in this build", kind)
	}

	// module
	t.Module = DefaultModule
	modNode := tm.str("module", &t.Module)
	if t.Module == "" {
		t.Module = DefaultModule
	}
	m, ok := c.Modules[t.Module]
	if !ok {
		d.failf(modNode, tm.field("module"), "unknown module %q (known: %s)", t.Module, strings.Join(c.moduleNames(), ", "))
	}
	if err := m.Accepts(parsed); err != nil {
		d.failf(urlNode, tm.field("url"), "%v", err)
	}

	// interval and timeout
	intNode := tm.dur("interval", &t.Interval)
	toNode := tm.dur("timeout", &t.Timeout)
	if toNode != nil && t.Timeout <= 0 {
		d.failf(toNode, tm.field("timeout"), "want a positive duration, got %s", fmtDur(t.Timeout))
	}
	if intNode != nil && t.Interval < MinInterval {
		d.failf(intNode, tm.field("interval"), "interval %s is below the minimum of %s", fmtDur(t.Interval), fmtDur(MinInterval))
	}
	var notes []string
	if intNode == nil {
		t.Interval = c.Defaults.Interval
		notes = append(notes, "interval from defaults.interval")
	}
	if toNode == nil {
		if m.Timeout > 0 {
			t.Timeout = m.Timeout
			notes = append(notes, fmt.Sprintf("timeout from modules.%s.timeout", m.Name))
		} else {
			t.Timeout = c.Defaults.Timeout
			notes = append(notes, "timeout from defaults.timeout")
		}
	}
	if t.Interval < t.Timeout {
		at, field := intNode, tm.field("interval")
		switch {
		case at != nil:
		case toNode != nil:
			at, field = toNode, tm.field("timeout")
		default:
			at, field = n, path
		}
		msg := fmt.Sprintf("interval %s is shorter than timeout %s", fmtDur(t.Interval), fmtDur(t.Timeout))
		if len(notes) > 0 {
			msg += " (" + strings.Join(notes, ", ") + ")"
		}
		d.failf(at, field, "%s", msg)
	}

	// labels
	for _, e := range tm.strMap("labels") {
		field := join(tm.field("labels"), e.name)
		switch {
		case !labelNameRE.MatchString(e.name) || strings.HasPrefix(e.name, "__"):
			d.failf(e.key, field, "label name %q: use letters, digits and '_', not starting with a digit or \"__\"", e.name)
		case slices.Contains(reservedLabels, e.name):
			d.failf(e.key, field, "label name %q is reserved (pathlens metrics use %s)", e.name, strings.Join(reservedLabels, ", "))
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[e.name] = e.val.Value
	}

	// A ws target holds its session for up to its interval: its budget is
	// the timeout plus the hold, capped at the interval (ws.go).
	budget := t.Timeout
	if kind == "ws" && m.WS.Hold > 0 {
		if m.WS.Hold > t.Interval {
			at, field := intNode, tm.field("interval")
			if at == nil {
				at, field = modNode, tm.field("module")
			}
			d.failf(at, field, "interval %s is shorter than modules.%s.ws.hold %s (a ws target holds its session for up to its interval)",
				fmtDur(t.Interval), m.Name, fmtDur(m.WS.Hold))
		}
		budget = wsBudget(t.Timeout, m.WS.Hold, t.Interval)
	}
	t.Options = m.options(budget)
	return t
}

// Target returns the target named name.
func (c *Config) Target(name string) (*Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}
