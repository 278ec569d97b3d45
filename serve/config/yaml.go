package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

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

// decoder decodes a config: the document's node tree (tree.go) and the
// schema (schema.go) decoded from it; the first error ends the decode.
type decoder struct {
	file string // shown in errors
	dir  string // relative file names are resolved against it
	tree *tree
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
// merge keys. The tree walks the document with aliases expanded, and
// yaml.v3's own limit lets aliases make up 99% of a decode of up to
// 400,000 values, so a few hundred bytes of nested aliases could
// otherwise expand to billions of nodes and hold a load (or a reload)
// for minutes.
const maxAliasNodes = 100000

// checkAliases walks the document with every alias expanded, as the
// tree and yaml.v3 see it, counting the nodes reached through aliases (merge keys
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

// present is n resolved, or nil when it holds nothing: a field of type
// yaml.Node left out (the zero Node) or null.
func present(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind == 0 || isNull(n) {
		return nil
	}
	return resolve(n)
}

// ---- node tree → schema ----

// decode decodes the document root (parsed from data) into the schema:
// the tree first (tree.go), which refuses the faults yaml.v3 would report
// without a line, then yaml.v3 with known fields only, whose errors
// decodeError turns into ours.
func (d *decoder) decode(root *yaml.Node, data []byte) *rawConfig {
	if root != nil && root.Kind != yaml.MappingNode && !isNull(root) {
		d.failf(root, "", "the config must be a mapping with the keys %s, got %s", keysOf(rawConfig{}), describe(root))
	}
	d.tree = newTree(d, root)
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		panic(bail{d.decodeError(err)})
	}
	return &raw
}

var (
	typeErrorRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	notFoundRE  = regexp.MustCompile(`(?s)^field (.*) not found in type (\S+)$`)
	unmarshalRE = regexp.MustCompile("(?s)^cannot unmarshal (\\S+?)(?: `(.*)`)? into (\\S+)$")
	snippetRE   = regexp.MustCompile("`.*`")
)

// decodeError turns the first of yaml.v3's errors into an Error naming
// the field: an unknown key (with the keys the schema has there), a value
// of the wrong shape, or a scalar type's refusal (typeError). yaml.v3
// gives only the line; the field is the tree's at that line. A value is
// never shown as yaml.v3 quotes it.
func (d *decoder) decodeError(err error) *Error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return &Error{File: d.file, Msg: snippetRE.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "a value")}
	}
	m := typeErrorRE.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return &Error{File: d.file, Msg: snippetRE.ReplaceAllString(te.Errors[0], "a value")}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	if rest, ok := strings.CutPrefix(msg, valueMark); ok {
		colText, text, _ := strings.Cut(rest, valueMark)
		col, _ := strconv.Atoi(colText)
		path, _ := d.tree.find(func(f field) bool { return f.val != nil && f.val.Line == line && f.val.Column == col })
		return &Error{File: d.file, Line: line, Field: path, Msg: text}
	}
	if m := notFoundRE.FindStringSubmatch(msg); m != nil {
		path, _ := d.tree.find(func(f field) bool { return f.key != nil && f.key.Line == line && f.key.Value == m[1] })
		return &Error{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf("unknown field %q (allowed: %s)", m[1], strings.Join(schemaKeys[m[2]], ", "))}
	}
	if m := unmarshalRE.FindStringSubmatch(msg); m != nil {
		return d.shapeError(line, m[1], m[2], m[3])
	}
	return &Error{File: d.file, Line: line, Msg: snippetRE.ReplaceAllString(msg, "a value")}
}

// shapeError is yaml.v3's "cannot unmarshal TAG `SNIPPET` into TYPE" at
// line: a mapping or list where the schema has the other, or a scalar
// where it has either.
func (d *decoder) shapeError(line int, tag, snippet, into string) *Error {
	path, n := d.tree.find(func(f field) bool {
		return f.val != nil && f.val.Line == line && f.val.ShortTag() == tag && (snippet == "" || yamlSnippet(f.val.Value) == snippet)
	})
	want := "a mapping"
	if strings.HasPrefix(into, "[]") {
		want = "a list"
	}
	if keys, ok := schemaKeys[into]; ok && strings.HasSuffix(path, "]") {
		want += " with the keys " + strings.Join(keys, ", ")
	}
	return &Error{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf("want %s, got %s", want, describe(n))}
}

// yamlSnippet is a scalar's value as yaml.v3 quotes it in errors.
func yamlSnippet(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}
