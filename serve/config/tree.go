package config

import "gopkg.in/yaml.v3"

// tree indexes the document by field path as messages spell it
// ("modules.web.http.max_body", "targets[0].labels.team"): the key and
// value node of every field, aliases followed and keys merged with <<
// under the mapping they are merged into (after its own keys, which win).
// It knows no schema: the checks use it to point at a field's line and to
// read mappings in file order (modules, headers, labels), and
// decodeError to name the field of a yaml.v3 error. Building it refuses,
// with a line and a field, what yaml.v3 would report without one or in
// words of its own: a key that is not a string, a duplicate key and a
// merge of something other than mappings.
type tree struct {
	d      *decoder
	fields map[string]field
	kids   map[string][]entry // a mapping's entries in file order
	order  []string           // the paths in walk order
}

// field is a field's key node (nil for the root and list items) and its
// value node, aliases resolved.
type field struct{ key, val *yaml.Node }

type entry struct {
	name     string
	key, val *yaml.Node
}

// newTree indexes the document root (nil when empty). checkAliases has
// bounded what the walk expands.
func newTree(d *decoder, root *yaml.Node) *tree {
	t := &tree{d: d, fields: map[string]field{}, kids: map[string][]entry{}}
	t.walk("", nil, root)
	return t
}

func (t *tree) walk(path string, key, n *yaml.Node) {
	if _, seen := t.fields[path]; seen {
		return // a name holding dots that spells an earlier field's path: that one keeps it
	}
	n = resolve(n)
	t.fields[path] = field{key, n}
	t.order = append(t.order, path)
	switch {
	case n == nil:
	case n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			t.walk(index(path, i), nil, c)
		}
	case n.Kind == yaml.MappingNode:
		var es []entry
		t.add(path, n, &es, map[string]int{}, false, 0)
		t.kids[path] = es
		for _, e := range es {
			t.walk(join(path, e.name), e.key, e.val)
		}
	}
}

// add appends the entries of mapping n at path to es: its own keys in
// file order, then those of the mappings it merges that it does not have.
func (t *tree) add(path string, n *yaml.Node, es *[]entry, byName map[string]int, merged bool, depth int) {
	if depth > 32 {
		t.d.failf(n, path, "merge keys (<<) nested too deeply")
	}
	var merges []*yaml.Node
	mergeLine := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			t.d.failf(k, path, "a key must be a string, got %s", describe(k))
		}
		if k.Tag == "!!merge" {
			if len(merges) > 0 && !merged {
				t.d.failf(k, join(path, k.Value), "duplicate field %q (first at line %d); merge several mappings with <<: [*a, *b]", k.Value, mergeLine)
			}
			merges, mergeLine = append(merges, v), k.Line
			continue
		}
		if j, dup := byName[k.Value]; dup {
			if merged {
				continue // an explicit key or an earlier merge wins
			}
			t.d.failf(k, join(path, k.Value), "duplicate field %q (first at line %d)", k.Value, (*es)[j].key.Line)
		}
		byName[k.Value] = len(*es)
		*es = append(*es, entry{name: k.Value, key: k, val: v})
	}
	for _, v := range merges {
		v = resolve(v)
		srcs := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			srcs = srcs[:0]
			for _, s := range v.Content {
				srcs = append(srcs, resolve(s))
			}
		}
		for _, s := range srcs {
			if s == nil || s.Kind != yaml.MappingNode {
				t.d.failf(v, path, "a merge (<<) takes a mapping or a list of mappings")
			}
			t.add(path, s, es, byName, true, depth+1)
		}
	}
}

// find is the first field, in walk order, that match accepts, and its
// value node.
func (t *tree) find(match func(field) bool) (string, *yaml.Node) {
	for _, p := range t.order {
		if f := t.fields[p]; match(f) {
			return p, f.val
		}
	}
	return "", nil
}

// val is the value node of the field at path, nil when absent or null.
func (d *decoder) val(path string) *yaml.Node {
	return present(d.tree.fields[path].val)
}

// at is where an error about the field at path as a whole points: its
// key, else its value (a list item).
func (d *decoder) at(path string) *yaml.Node {
	f := d.tree.fields[path]
	if f.key != nil {
		return f.key
	}
	return f.val
}

// entries are the entries of the mapping at path, in file order.
func (d *decoder) entries(path string) []entry { return d.tree.kids[path] }
