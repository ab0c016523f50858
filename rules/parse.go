package rules

import (
	"bytes"
	"errors"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Load reads the rules file at path and parses it. Errors name the file as
// path, so they read the same as the Caddyfile that refers to it.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a rules file held in data; name is only used in errors and
// File.Path. An empty file, or one holding only comments, is valid and has
// no rule sets, so a deployment can start before its rules are written.
// Every error it returns is an *Error.
func Parse(name string, data []byte) (*File, error) {
	if e := checkText(name, data); e != nil {
		return nil, e
	}
	root, err := decodeOne(name, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: name}
	if root == nil {
		return f, nil
	}
	p := &parser{name: name}
	if err := p.file(f, root); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeOne decodes the file's single YAML document. A second document is
// an error rather than ignored, as a pasted "---" would otherwise hide every
// rule set after it. It returns nil for an empty file.
func decodeOne(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(name, err)
		}
		return nil, &Error{File: name, Line: next.Line, Msg: "a rules file holds one YAML document; remove this second one"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// file decodes the top level: the inbound and outbound sections.
func (p *parser) file(f *File, root *yaml.Node) error {
	top, err := p.entries(root, "", []string{"inbound", "outbound"})
	if err != nil {
		return err
	}
	for _, e := range top {
		sets, err := p.entries(e.val, e.key.Value, nil)
		if err != nil {
			return err
		}
		for _, s := range sets {
			if err := checkSetName(p, e.key.Value, s.key); err != nil {
				return err
			}
			if e.key.Value == "inbound" {
				in, err := p.inbound(s.key, s.val)
				if err != nil {
					return err
				}
				f.Inbound = append(f.Inbound, in)
			} else {
				out, err := p.outbound(s.key, s.val)
				if err != nil {
					return err
				}
				f.Outbound = append(f.Outbound, out)
			}
		}
	}
	return nil
}

// checkSetName keeps set names to what a Caddyfile can refer to without
// quoting. Uniqueness is already enforced by entries, as names are keys.
func checkSetName(p *parser, dir string, key *yaml.Node) error {
	if !setName.MatchString(key.Value) {
		return p.errAt(key, dir, "rule set name %q: want lower-case letters, digits, _ and - only", key.Value)
	}
	return nil
}
