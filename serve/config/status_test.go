package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const statusTargets = `targets:
  - {name: api, url: "http://127.0.0.1:1/"}
  - {name: web-1, url: "http://127.0.0.1:2/"}
  - {name: db, url: "http://127.0.0.1:3/"}
  - {name: web-2, url: "http://127.0.0.1:4/"}
`

func TestStatusPageConfig(t *testing.T) {
	c, err := Parse("c.yaml", []byte(statusTargets+`status_page:
  enabled: true
  title: "  Example status "
  groups:
    - {name: Shop, targets: [api, "web-*"]}
    - name: Data
      targets: ["web-2", db, "d?"]
`))
	if err != nil {
		t.Fatal(err)
	}
	sp := c.StatusPage
	if !sp.Enabled || sp.Title != "Example status" || len(sp.Groups) != 2 {
		t.Fatalf("status page %+v", sp)
	}
	// Members follow the patterns' order, each pattern's matches in
	// config order, each target once.
	if g := sp.Groups[0]; g.Name != "Shop" || !slices.Equal(g.Members, []string{"api", "web-1", "web-2"}) || !slices.Equal(g.Patterns, []string{"api", "web-*"}) {
		t.Errorf("group 0 %+v", g)
	}
	if g := sp.Groups[1]; g.Name != "Data" || !slices.Equal(g.Members, []string{"web-2", "db"}) {
		t.Errorf("group 1 %+v", g)
	}

	// Off by default, titled Status; groups are checked while it is off.
	c, err = Parse("c.yaml", []byte(statusTargets))
	if err != nil {
		t.Fatal(err)
	}
	if c.StatusPage.Enabled || c.StatusPage.Title != DefaultStatusTitle || DefaultStatusTitle != "Status" || c.StatusPage.Groups != nil {
		t.Errorf("default status page %+v", c.StatusPage)
	}
	c, err = Parse("c.yaml", []byte(statusTargets+"status_page: {groups: [{name: All, targets: ['*']}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.StatusPage.Enabled || len(c.StatusPage.Groups[0].Members) != 4 {
		t.Errorf("disabled status page %+v", c.StatusPage)
	}
}

// Each error names the file, the line of the faulty value and its field.
func TestStatusPageConfigErrors(t *testing.T) {
	for text, want := range map[string]string{
		"status_page:\n  enabled: true\n":                                                            `c.yaml:2: status_page.enabled: the status page shows the targets of its groups: name at least one under status_page.groups`,
		"status_page:\n  enabled: maybe\n":                                                           `c.yaml:2: status_page.enabled: want true or false, got "maybe"`,
		"status_page:\n  title: \"  \"\n":                                                            `c.yaml:2: status_page.title: want a title (leave title out for "Status"), got an empty string`,
		"status_page:\n  title: [a]\n":                                                               `c.yaml:2: status_page.title: want a string, got a list`,
		"status_page:\n  title: \"" + strings.Repeat("x", 201) + "\"\n":                              `c.yaml:2: status_page.title: longer than 200 characters`,
		"status_page:\n  colour: red\n":                                                              `c.yaml:2: status_page.colour: unknown field "colour" (allowed: enabled, title, groups)`,
		"status_page:\n  groups:\n    - ~\n":                                                         `c.yaml:3: status_page.groups[0]: want a mapping with the keys name, targets, got nothing`,
		"status_page:\n  groups:\n    - targets: [api]\n":                                            `c.yaml:3: status_page.groups[0].name: name is required`,
		"status_page:\n  groups:\n    - {name: \"\", targets: [api]}\n":                              `c.yaml:3: status_page.groups[0].name: want a group name, got an empty string`,
		"status_page:\n  groups:\n    - {name: A}\n":                                                 `c.yaml:3: status_page.groups[0].targets: name at least one target or pattern`,
		"status_page:\n  groups:\n    - name: A\n      targets: []\n":                                `c.yaml:4: status_page.groups[0].targets: name at least one target or pattern`,
		"status_page:\n  groups:\n    - {name: A, targets: [api]}\n    - {name: A, targets: [db]}\n": `c.yaml:4: status_page.groups[1].name: duplicate group name "A" (first at line 8)`,
		"status_page:\n  groups:\n    - name: A\n      targets:\n        - api\n        - nope\n":    `c.yaml:6: status_page.groups[0].targets[1]: "nope" matches no target`,
		"status_page:\n  groups:\n    - {name: A, targets: [\"db-*\"]}\n":                            `c.yaml:3: status_page.groups[0].targets[0]: "db-*" matches no target`,
		"status_page:\n  groups:\n    - {name: A, targets: [\"web-[\"]}\n":                           `c.yaml:3: status_page.groups[0].targets[0]: "web-[" is not a valid pattern: syntax error in pattern`,
		"status_page:\n  groups:\n    - {name: A, targets: [[api]]}\n":                               `c.yaml:3: status_page.groups[0].targets[0]: want a target name or pattern, got a list`,
		"status_page:\n  groups:\n    - {name: A, targets: [\" \"]}\n":                               `c.yaml:3: status_page.groups[0].targets[0]: want a target name or pattern, got an empty string`,
		"status_page:\n  groups:\n    - {name: A, targets: api}\n":                                   `c.yaml:3: status_page.groups[0].targets: want a list, got a string`,
	} {
		_, err := Parse(filepath.Join("d", "c.yaml"), []byte(statusTargets+text))
		if err == nil {
			t.Errorf("Parse(%q): no error", text)
			continue
		}
		got := strings.TrimPrefix(err.Error(), "d"+string(filepath.Separator))
		// The errors' lines count from the status_page text.
		want = shiftLine(want, strings.Count(statusTargets, "\n"))
		if got != want {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", text, got, want)
		}
	}
}

// shiftLine adds n to the line of a "c.yaml:LINE: …" message.
func shiftLine(msg string, n int) string {
	file, rest, _ := strings.Cut(msg, ":")
	line, rest, _ := strings.Cut(rest, ":")
	l := 0
	for _, c := range line {
		l = l*10 + int(c-'0')
	}
	return file + ":" + itoaLine(l+n) + ":" + rest
}

func itoaLine(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoaLine(n/10) + string(rune('0'+n%10))
}
