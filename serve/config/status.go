package config

import (
	"path"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// DefaultStatusTitle is the status page's title when the file sets none.
const DefaultStatusTitle = "Status"

// maxStatusText bounds the status page's title and group names, in
// characters.
const maxStatusText = 200

// StatusPage configures the public status page (docs/serve.md#status-page):
// off unless Enabled; the targets it shows are those its groups name.
type StatusPage struct {
	Enabled bool
	Title   string // DefaultStatusTitle when the file sets none
	Groups  []StatusGroup
}

// StatusGroup is one group of the status page.
type StatusGroup struct {
	Name string
	// Patterns are target names and path.Match patterns ("web-*"), as
	// the file lists them; each matches at least one target.
	Patterns []string
	// Members are the names of the targets the patterns match, in the
	// order of the patterns (a pattern's matches in config order), each
	// once.
	Members []string
}

type (
	rawStatusPage struct {
		Enabled boolean           `yaml:"enabled"`
		Title   str               `yaml:"title"`
		Groups  []*rawStatusGroup `yaml:"groups"`
	}
	rawStatusGroup struct {
		Name    str         `yaml:"name"`
		Targets []yaml.Node `yaml:"targets"`
	}
)

// statusPage reads status_page: into c; it runs after the targets, which
// the groups name.
func (d *decoder) statusPage(c *Config, r *rawStatusPage) {
	const p = "status_page"
	sp := &c.StatusPage
	sp.Title = DefaultStatusTitle
	enabled := r.Enabled.set(&sp.Enabled)
	if n := r.Title.set(&sp.Title); n != nil {
		sp.Title = strings.TrimSpace(sp.Title)
		d.statusText(n, join(p, "title"), sp.Title, "a title (leave title out for \""+DefaultStatusTitle+"\")")
	}
	first := map[string]int{} // group name → line
	for i, g := range r.Groups {
		gp := index(join(p, "groups"), i)
		if g == nil {
			d.failf(d.at(gp), gp, "want a mapping with the keys %s, got nothing", keysOf(rawStatusGroup{}))
		}
		if g.Name.N == nil {
			d.failf(d.at(gp), join(gp, "name"), "name is required")
		}
		sg := StatusGroup{Name: strings.TrimSpace(g.Name.V)}
		d.statusText(g.Name.N, join(gp, "name"), sg.Name, "a group name")
		if line, dup := first[sg.Name]; dup {
			d.failf(g.Name.N, join(gp, "name"), "duplicate group name %q (first at line %d)", sg.Name, line)
		}
		first[sg.Name] = g.Name.N.Line
		if len(g.Targets) == 0 {
			d.failf(orNode(d.val(join(gp, "targets")), d.at(gp)), join(gp, "targets"), "name at least one target or pattern")
		}
		seen := map[string]bool{}
		for j := range g.Targets {
			field := index(join(gp, "targets"), j)
			n := &g.Targets[j]
			pat := strings.TrimSpace(d.listString(n, field, "a target name or pattern"))
			if pat == "" {
				d.failf(n, field, "want a target name or pattern, got an empty string")
			}
			if _, err := path.Match(pat, ""); err != nil {
				d.failf(n, field, "%q is not a valid pattern: %v", pat, err)
			}
			matched := false
			for _, t := range c.Targets {
				if ok, _ := path.Match(pat, t.Name); ok {
					matched = true
					if !seen[t.Name] {
						seen[t.Name] = true
						sg.Members = append(sg.Members, t.Name)
					}
				}
			}
			if !matched {
				d.failf(n, field, "%q matches no target", pat)
			}
			sg.Patterns = append(sg.Patterns, pat)
		}
		sp.Groups = append(sp.Groups, sg)
	}
	if sp.Enabled && len(sp.Groups) == 0 {
		d.failf(enabled, join(p, "enabled"), "the status page shows the targets of its groups: name at least one under status_page.groups")
	}
}

// statusText checks a title or group name shown on the status page.
func (d *decoder) statusText(n *yaml.Node, field, s, what string) {
	switch {
	case s == "":
		d.failf(n, field, "want %s, got an empty string", what)
	case utf8.RuneCountInString(s) > maxStatusText:
		d.failf(n, field, "longer than %d characters", maxStatusText)
	case strings.ContainsAny(s, "\r\n"):
		d.failf(n, field, "want one line")
	}
}
