package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// setName is what a rule set may be called: a Caddyfile token that needs no
// quoting and reads the same in logs and metrics labels.
var setName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// parser decodes yaml.Nodes, turning every problem into an *Error at the
// line of the node concerned.
type parser struct {
	name string
}

// entry is one key/value pair of a mapping, in file order.
type entry struct {
	key, val *yaml.Node
}

// errAt makes an *Error at n's line, prefixed by the context (the rule set
// and field) so the reason can be understood without opening the file.
func (p *parser) errAt(n *yaml.Node, ctx, format string, args ...any) error {
	return p.errLine(n.Line, ctx, format, args...)
}

// errLine is errAt for a line remembered from a node, such as Field.Line.
func (p *parser) errLine(line int, ctx, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if ctx != "" {
		msg = ctx + ": " + msg
	}
	return &Error{File: p.name, Line: line, Msg: msg}
}

// resolve follows aliases, so an anchored value can be reused anywhere a
// plain one can.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is YAML null: an empty value, "~" or "null".
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for "want X, got Y" errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a document"
}

// entries returns the pairs of mapping n, which may also be null (no pairs).
// It rejects what a map decode would silently accept: duplicate keys (the
// last one would win), merge keys, and, when known is not nil, any key not
// in known, so that a misspelt key is never ignored. With known nil the keys
// are rule set names.
func (p *parser) entries(n *yaml.Node, ctx string, known []string) ([]entry, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, ctx, "want a mapping, got %s", describe(n))
	}
	var out []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errAt(k, ctx, "want a plain key, got %s", describe(k))
		}
		if k.ShortTag() == "!!merge" {
			return nil, p.errAt(k, ctx, "merge keys (<<) are not supported; write the keys out")
		}
		if first, ok := seen[k.Value]; ok {
			if known == nil {
				return nil, p.errAt(k, fmt.Sprintf("%s %q", ctx, k.Value), "rule set declared twice (first at line %d)", first.Line)
			}
			return nil, p.errAt(k, ctx, "duplicate key %q (first at line %d)", k.Value, first.Line)
		}
		seen[k.Value] = k
		if known != nil && !slices.Contains(known, k.Value) {
			return nil, p.errAt(k, ctx, "unknown key %q (want %s)", k.Value, strings.Join(known, ", "))
		}
		out = append(out, entry{key: k, val: v})
	}
	return out, nil
}

// str decodes a non-null scalar as a string, verbatim, so that a value such
// as 0123 keeps its leading zero.
func (p *parser) str(n *yaml.Node, ctx, key string) (string, error) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", p.errAt(n, ctx, "%s: want a string, got %s", key, describe(n))
	}
	return n.Value, nil
}

// list decodes a list of scalars, or a single scalar as a list of one, and
// returns the nodes so each item's errors can carry its own line.
func (p *parser) list(n *yaml.Node, ctx, key string) ([]*yaml.Node, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = items[:0]
		for _, it := range n.Content {
			items = append(items, resolve(it))
		}
	}
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || isNull(it) {
			return nil, p.errAt(it, ctx, "%s: want a list of strings, got %s", key, describe(it))
		}
	}
	return items, nil
}

// boolean decodes a YAML boolean; strings such as "yes" are rejected rather
// than guessed at.
func (p *parser) boolean(n *yaml.Node, ctx, key string) (bool, error) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, nil
		}
	}
	return false, p.errAt(n, ctx, "%s: want true or false, got %s", key, describe(n))
}
