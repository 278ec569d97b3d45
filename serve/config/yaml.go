package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/optparse"
	"gopkg.in/yaml.v3"
)

// Error is a config error: the file, the line (0 when unknown), the dotted
// field path ("" for file-level errors such as YAML syntax) and the
// message. Error() renders it as FILE:LINE: FIELD: MESSAGE.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// bail carries the first error out of the decoder (recovered in parse).
type bail struct{ err *Error }

// decoder walks the yaml.Node tree; the first error ends the walk.
type decoder struct {
	file string // shown in errors
	dir  string // relative file names are resolved against it
}

func (d *decoder) failf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	panic(bail{&Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}})
}

// ---- YAML text → node ----

// maxSearchLines bounds the prefix search of syntaxError (quadratic).
const maxSearchLines = 4000

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// parseYAML decodes the single document in data. It returns nil for an
// empty document (or one holding only comments).
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, &extraDocError{line: next.Line}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

type extraDocError struct{ line int }

func (e *extraDocError) Error() string { return "a second YAML document" }

// syntaxError turns a yaml.v3 parse error into an Error with the right
// line. yaml.v3 reports some lines 0-based, some 1-based and some not at
// all, so the line is found again by parsing ever longer prefixes of the
// file: the first prefix that fails with the same message holds the fault
// on its last line.
func (d *decoder) syntaxError(data []byte, err error) *Error {
	var xd *extraDocError
	if errors.As(err, &xd) {
		return &Error{File: d.file, Line: xd.line, Msg: "a config file holds one YAML document; remove the second (---)"}
	}
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxSearchLines {
		lines = nil // too long to search: keep yaml.v3's line
	}
	n := 0
	for i := range lines {
		n += len(lines[i])
		_, perr := parseYAML(data[:n])
		if perr == nil {
			continue
		}
		pm := yamlLineRE.ReplaceAllString(perr.Error(), "")
		pm = strings.TrimPrefix(pm, "yaml: ")
		if pm == msg {
			line = i + 1
			break
		}
	}
	return &Error{File: d.file, Line: line, Msg: "YAML syntax error: " + msg}
}

// maxAliasNodes bounds the nodes a document reaches through aliases and
// merge keys. The decoder walks the node tree itself, so yaml.v3's own
// alias limits (which guard decoding into Go values) do not apply, and a
// few hundred bytes of nested aliases could otherwise expand to billions
// of nodes and hold a load (or a reload) for minutes.
const maxAliasNodes = 100000

// checkAliases walks the document with every alias expanded, as the
// decoder sees it, counting the nodes reached through aliases (merge keys
// reach theirs through aliases too). It fails past maxAliasNodes, pointing
// at the outermost alias of the expansion, and on an alias that refers to
// a node containing it.
func (d *decoder) checkAliases(root *yaml.Node) *Error {
	w := aliasWalk{inside: map[*yaml.Node]bool{}}
	if w.walk(root, nil) {
		return nil
	}
	if w.cycle != nil {
		return &Error{File: d.file, Line: w.cycle.Line, Msg: fmt.Sprintf("alias *%s refers to a node that contains it", w.cycle.Value)}
	}
	return &Error{File: d.file, Line: w.at.Line, Msg: fmt.Sprintf("the document expands to more than %d nodes through aliases and merge keys", maxAliasNodes)}
}

type aliasWalk struct {
	count  int
	inside map[*yaml.Node]bool // the anchored nodes on the current path
	at     *yaml.Node          // the outermost alias when the limit was passed
	cycle  *yaml.Node          // the alias that refers to a node containing it
}

// walk visits n and its children; outer is the outermost alias on the
// path (nil outside aliases). It returns false to stop the walk.
func (w *aliasWalk) walk(n, outer *yaml.Node) bool {
	if n == nil {
		return true
	}
	if outer != nil {
		if w.count++; w.count > maxAliasNodes {
			w.at = outer
			return false
		}
	}
	if n.Kind == yaml.AliasNode {
		if w.inside[n.Alias] {
			w.cycle = n
			return false
		}
		if outer == nil {
			outer = n
		}
		return w.walk(n.Alias, outer)
	}
	if n.Anchor != "" {
		w.inside[n] = true
		defer delete(w.inside, n)
	}
	for _, c := range n.Content {
		if !w.walk(c, outer) {
			return false
		}
	}
	return true
}

// ---- node helpers ----

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what a node holds without echoing its value (which may
// be a secret such as a header value).
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return "a string"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

type entry struct {
	name     string
	key, val *yaml.Node
}

// mapping is a decoded YAML mapping: its entries in file order (explicit
// keys first, then those merged in with <<), the allowed keys and the
// node that missing-field errors point at.
type mapping struct {
	d       *decoder
	path    string
	at      *yaml.Node
	entries []entry
	byName  map[string]int
}

// mapping reads n (nil or null = empty) as a mapping. allowed nil accepts
// any key (module names, headers, labels); otherwise an unknown key is an
// error naming it and the allowed keys. at is where errors about missing
// fields point (the key line of the mapping, or n itself when nil).
func (d *decoder) mapping(at, n *yaml.Node, path string, allowed []string) *mapping {
	m := &mapping{d: d, path: path, at: at, byName: map[string]int{}}
	if m.at == nil {
		m.at = n
	}
	if isNull(n) {
		return m
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.failf(n, path, "want a mapping, got %s", describe(n))
	}
	if m.at == nil || m.at.Kind != yaml.ScalarNode {
		m.at = n
	}
	m.add(n, allowed, false, 0)
	return m
}

func (m *mapping) add(n *yaml.Node, allowed []string, merged bool, depth int) {
	if depth > 32 {
		m.d.failf(n, m.path, "merge keys (<<) nested too deeply")
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			m.d.failf(k, m.path, "a key must be a string, got %s", describe(k))
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		name := k.Value
		field := join(m.path, name)
		if allowed != nil && !slices.Contains(allowed, name) {
			m.d.failf(k, field, "unknown field %q (allowed: %s)", name, strings.Join(allowed, ", "))
		}
		if j, dup := m.byName[name]; dup {
			if merged {
				continue // an explicit key or an earlier merge wins
			}
			m.d.failf(k, field, "duplicate field %q (first at line %d)", name, m.entries[j].key.Line)
		}
		m.byName[name] = len(m.entries)
		m.entries = append(m.entries, entry{name: name, key: k, val: v})
	}
	for _, v := range merges {
		v = resolve(v)
		var srcs []*yaml.Node
		switch v.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{v}
		case yaml.SequenceNode:
			for _, s := range v.Content {
				srcs = append(srcs, resolve(s))
			}
		}
		for _, s := range srcs {
			if s == nil || s.Kind != yaml.MappingNode {
				m.d.failf(v, m.path, "a merge (<<) takes a mapping or a list of mappings")
			}
			m.add(s, allowed, true, depth+1)
		}
	}
}

func (m *mapping) field(key string) string { return join(m.path, key) }

// get returns the value node of key, or nil when absent or null.
func (m *mapping) get(key string) *yaml.Node {
	i, ok := m.byName[key]
	if !ok || isNull(m.entries[i].val) {
		return nil
	}
	return resolve(m.entries[i].val)
}

// keyNode returns the key node of key (nil when absent).
func (m *mapping) keyNode(key string) *yaml.Node {
	if i, ok := m.byName[key]; ok {
		return m.entries[i].key
	}
	return nil
}

func (m *mapping) scalar(key string) *yaml.Node {
	n := m.get(key)
	if n != nil && n.Kind != yaml.ScalarNode {
		m.d.failf(n, m.field(key), "want a %s, got %s", wantFor(key), describe(n))
	}
	return n
}

func wantFor(key string) string {
	switch key {
	case "interval", "timeout", "retention", "queue_timeout":
		return "duration"
	case "insecure", "resumption_check", "open_endpoints", "open":
		return "true or false"
	case "concurrency", "count", "max_redirects", "max_concurrent":
		return "number"
	case "max_body":
		return "size"
	}
	return "string"
}

// str sets *dst when key is present and returns its node.
func (m *mapping) str(key string, dst *string) *yaml.Node {
	n := m.scalar(key)
	if n != nil {
		*dst = n.Value
	}
	return n
}

func (m *mapping) dur(key string, dst *time.Duration) *yaml.Node {
	n := m.scalar(key)
	if n == nil {
		return nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		m.d.failf(n, m.field(key), "bad duration %q (want e.g. 500ms, 10s or 1m)", n.Value)
	}
	*dst = v
	return n
}

func (m *mapping) boolean(key string, dst *bool) *yaml.Node {
	n := m.scalar(key)
	if n == nil {
		return nil
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		*dst = true
	case "false", "no", "off":
		*dst = false
	default:
		m.d.failf(n, m.field(key), "want true or false, got %q", n.Value)
	}
	return n
}

func (m *mapping) integer(key string, dst *int) *yaml.Node {
	n := m.scalar(key)
	if n == nil {
		return nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		m.d.failf(n, m.field(key), "want a whole number, got %q", n.Value)
	}
	*dst = v
	return n
}

func (m *mapping) size(key string, dst *int64) *yaml.Node {
	n := m.scalar(key)
	if n == nil {
		return nil
	}
	v, err := optparse.ParseSize(n.Value)
	if err != nil {
		m.d.failf(n, m.field(key), "bad size %q (want e.g. 1000, 512KiB or 10MiB)", n.Value)
	}
	*dst = v
	return n
}

// strMap reads a mapping of strings (headers, labels) in file order.
func (m *mapping) strMap(key string) []entry {
	n := m.get(key)
	if n == nil {
		return nil
	}
	sub := m.d.mapping(m.keyNode(key), n, m.field(key), nil)
	out := make([]entry, len(sub.entries))
	for i, e := range sub.entries {
		v := resolve(e.val)
		switch {
		case isNull(v):
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: e.key.Line}
		case v.Kind != yaml.ScalarNode:
			m.d.failf(v, sub.field(e.name), "want a string, got %s", describe(v))
		}
		out[i] = entry{name: e.name, key: e.key, val: v}
	}
	return out
}

// seq reads key as a list (nil when absent).
func (m *mapping) seq(key string) []*yaml.Node {
	n := m.get(key)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		m.d.failf(n, m.field(key), "want a list, got %s", describe(n))
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}
