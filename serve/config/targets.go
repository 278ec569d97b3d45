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

// reservedLabels are the label names pathlens' own metrics and alerts
// carry (target labels go on both).
var reservedLabels = []string{"target", "module", "phase", "id", "severity", "result", "subject", "class", "direction", "le", "finding", "alertname", "location", "agent"}

// target checks target r (the item at path; nil when null) and builds
// it: name, url, module, then interval and timeout, labels and the ws
// budget, each checked against what was found before it. first holds the
// line of each name so far.
func (d *decoder) target(c *Config, r *rawTarget, path string, first map[string]int) *Target {
	if r == nil {
		d.failf(d.at(path), path, "want a mapping with the keys %s, got nothing", keysOf(rawTarget{}))
	}
	t := &Target{}
	nameNode := d.targetName(r, path, t)
	if line, dup := first[t.Name]; dup {
		d.failf(nameNode, join(path, "name"), "duplicate target name %q (first at line %d)", t.Name, line)
	}
	first[t.Name] = nameNode.Line

	urlNode := r.URL.set(&t.URL)
	if urlNode == nil || strings.TrimSpace(t.URL) == "" {
		d.failf(orNode(urlNode, d.at(path)), join(path, "url"), "url is required")
	}
	parsed, err := probe.ParseTarget(t.URL)
	if err != nil {
		var pe *probe.PhaseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.failf(urlNode, join(path, "url"), "%v", err)
	}
	t.Parsed = parsed
	kind := KindOf(parsed.Kind)
	if _, ok := probe.LookupKind(kind); !ok {
		d.failf(urlNode, join(path, "url"), "probe kind %s is not available in this build", kind)
	}

	t.Module = DefaultModule
	modNode := r.Module.set(&t.Module)
	if t.Module == "" {
		t.Module = DefaultModule
	}
	m, ok := c.Modules[t.Module]
	if !ok {
		d.failf(modNode, join(path, "module"), "unknown module %q (known: %s)", t.Module, strings.Join(c.moduleNames(), ", "))
	}
	if err := m.Accepts(parsed); err != nil {
		d.failf(urlNode, join(path, "url"), "%v", err)
	}

	intNode := d.targetTimes(c, m, r, path, t)
	d.targetLabels(r, path, t)
	t.Rules = c.Defaults.Rules
	d.rules(path, &r.rawRules, &t.Rules)
	if r.SLO != nil {
		t.SLO = d.slo(join(path, "slo"), r.SLO)
	}

	// A ws target holds its session for up to its interval: its budget is
	// the timeout plus the hold, capped at the interval (ws.go).
	budget := t.Timeout
	if kind == "ws" && m.WS.Hold > 0 {
		if m.WS.Hold > t.Interval {
			at, field := intNode, join(path, "interval")
			if at == nil {
				at, field = modNode, join(path, "module")
			}
			d.failf(at, field, "interval %s is shorter than modules.%s.ws.hold %s (a ws target holds its session for up to its interval)",
				fmtDur(t.Interval), m.Name, fmtDur(m.WS.Hold))
		}
		budget = wsBudget(t.Timeout, m.WS.Hold, t.Interval)
	}
	// Targets with assertions of their own get options of their own;
	// the others share their module's (Module.shared).
	t.Assert = m.Assert
	if own := d.assertions(join(path, "assert"), r.Assert); own != nil {
		t.Assert = m.Assert.Join(own)
		t.Options = m.options(budget)
		t.Options.Assertions = t.Assert
		return t
	}
	t.Options = m.shared(budget)
	return t
}

// orNode is n, or else when n is nil.
func orNode(n, orElse *yaml.Node) *yaml.Node {
	if n == nil {
		return orElse
	}
	return n
}

// targetName reads and checks the name of target r (at path) into t and
// returns its node.
func (d *decoder) targetName(r *rawTarget, path string, t *Target) *yaml.Node {
	nameNode := r.Name.set(&t.Name)
	field := join(path, "name")
	switch {
	case nameNode == nil || strings.TrimSpace(t.Name) == "":
		d.failf(orNode(nameNode, d.at(path)), field, "name is required")
	case t.Name != strings.TrimSpace(t.Name):
		d.failf(nameNode, field, "name %q starts or ends with a space", t.Name)
	case strings.ContainsFunc(t.Name, func(r rune) bool { return r == '/' || unicode.IsControl(r) }):
		d.failf(nameNode, field, "name %q must not contain '/' or control characters", t.Name)
	}
	return nameNode
}

// targetTimes sets the interval and timeout of target r (at path) of
// module m: its own, else the module's timeout, else defaults. It
// returns the node of its own interval (nil when it has none).
func (d *decoder) targetTimes(c *Config, m *Module, r *rawTarget, path string, t *Target) *yaml.Node {
	intNode := r.Interval.set(&t.Interval)
	toNode := r.Timeout.set(&t.Timeout)
	if toNode != nil && t.Timeout <= 0 {
		d.failf(toNode, join(path, "timeout"), "want a positive duration, got %s", fmtDur(t.Timeout))
	}
	if intNode != nil && t.Interval < MinInterval {
		d.failf(intNode, join(path, "interval"), "interval %s is below the minimum of %s", fmtDur(t.Interval), fmtDur(MinInterval))
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
		at, field := intNode, join(path, "interval")
		switch {
		case at != nil:
		case toNode != nil:
			at, field = toNode, join(path, "timeout")
		default:
			at, field = d.at(path), path
		}
		msg := fmt.Sprintf("interval %s is shorter than timeout %s", fmtDur(t.Interval), fmtDur(t.Timeout))
		if len(notes) > 0 {
			msg += " (" + strings.Join(notes, ", ") + ")"
		}
		d.failf(at, field, "%s", msg)
	}
	return intNode
}

// targetLabels reads the labels of target r (at path) into t, in file
// order.
func (d *decoder) targetLabels(r *rawTarget, path string, t *Target) {
	lp := join(path, "labels")
	for _, e := range d.entries(lp) {
		field := join(lp, e.name)
		switch {
		case !labelNameRE.MatchString(e.name) || strings.HasPrefix(e.name, "__"):
			d.failf(e.key, field, "label name %q: use letters, digits and '_', not starting with a digit or \"__\"", e.name)
		case slices.Contains(reservedLabels, e.name):
			d.failf(e.key, field, "label name %q is reserved (pathlens metrics use %s)", e.name, strings.Join(reservedLabels, ", "))
		}
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[e.name] = r.Labels[e.name].V
	}
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
