// Package apitest holds test helpers that prove wire compatibility with API
// documentation samples ("seeds"): a JSON document produced by our code must
// have the same shape as the documented sample, field by field and JSON type
// by JSON type.
//
// Problems are reported by dotted path and JSON type only, never by value,
// because values may be card data. Paths look like
// "network_token.issuer.country"; array elements are written "additional[0]";
// the document itself is "(root)".
package apitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
)

// JSON type names used in problem messages.
const (
	typeObject = "object"
	typeArray  = "array"
	typeString = "string"
	typeNumber = "number"
	typeBool   = "bool"
	typeNull   = "null"
)

// SameShape fails t (with t.Errorf, once per problem) unless got has the shape
// of sample; see Shape for the rules. what names the document in messages.
// Extra keys in got are not reported; use ExtraKeys for that.
func SameShape(t testing.TB, what string, sample, got []byte, optional ...string) {
	t.Helper()
	for _, p := range Shape(sample, got, optional...) {
		t.Errorf("%s: %s", what, p)
	}
}

// Shape returns the ways in which got (JSON) differs in shape from sample
// (JSON), or nil if it has the same shape:
//
//   - every key of every sample object must be present in got, at the same
//     nesting, unless its dotted path is listed in optional;
//   - every value must have the same JSON type (object, array, string,
//     number, bool) as in the sample; a JSON string never matches a number
//     ("12" vs 12);
//   - null in the sample matches any type in got (the key must still be
//     present unless optional), and nothing below it is checked;
//   - every element of an array in got is compared with the first element of
//     the sample's array; an empty sample array accepts any array.
//
// An optional path is dotted from the root, without array indices: the key
// "issuer" inside the elements of "network_token.additional" is
// "network_token.additional.issuer" ("network_token.additional[].issuer" is
// accepted too). An optional key may be absent or null; present and not
// null, it is checked like any other.
//
// Keys of got that the sample lacks are not problems here; see ExtraKeys.
// Problems name paths and types only, never values.
func Shape(sample, got []byte, optional ...string) []string {
	s, err := decode(sample)
	if err != nil {
		return []string{"sample: " + err.Error()}
	}
	g, err := decode(got)
	if err != nil {
		return []string{"got: " + err.Error()}
	}
	opt := make(map[string]bool, len(optional))
	for _, o := range optional {
		opt[normalize(o)] = true
	}
	var c checker
	c.optional = opt
	c.compare("", "", s, g)
	return c.problems
}

// ExtraKeys returns the dotted paths of keys present in got (JSON) but absent
// from sample (JSON), in the same path syntax as Shape, or nil if there are
// none. It descends only where the two documents have the same shape: not
// below a null sample value, a type mismatch or an empty sample array. Array
// elements of got are compared with the sample array's first element. If
// either document is not valid JSON the single entry says so.
func ExtraKeys(sample, got []byte) []string {
	s, err := decode(sample)
	if err != nil {
		return []string{"sample: " + err.Error()}
	}
	g, err := decode(got)
	if err != nil {
		return []string{"got: " + err.Error()}
	}
	var out []string
	extra("", s, g, &out)
	return out
}

type checker struct {
	optional map[string]bool
	problems []string
}

// compare checks g against sample value s. path is the display path (with
// indices), key the index-free path used for optional lookups.
func (c *checker) compare(path, key string, s, g any) {
	if s == nil {
		return // null in the sample accepts anything
	}
	if g == nil && c.optional[key] {
		return // an optional value may be null: unknown, as the API answers it
	}
	st, gt := typeOf(s), typeOf(g)
	if st != gt {
		c.problems = append(c.problems, fmt.Sprintf("%s: type mismatch: expected %s, got %s", show(path), st, gt))
		return
	}
	switch sv := s.(type) {
	case map[string]any:
		gv := g.(map[string]any)
		for _, k := range sortedKeys(sv) {
			p, kp := join(path, k), join(key, k)
			v, ok := gv[k]
			if !ok {
				if !c.optional[kp] {
					c.problems = append(c.problems, fmt.Sprintf("%s: missing (expected %s)", p, typeOf(sv[k])))
				}
				continue
			}
			c.compare(p, kp, sv[k], v)
		}
	case []any:
		if len(sv) == 0 {
			return
		}
		for i, e := range g.([]any) {
			c.compare(fmt.Sprintf("%s[%d]", path, i), key, sv[0], e)
		}
	}
}

func extra(path string, s, g any, out *[]string) {
	if s == nil || typeOf(s) != typeOf(g) {
		return
	}
	switch sv := s.(type) {
	case map[string]any:
		gv := g.(map[string]any)
		for _, k := range sortedKeys(gv) {
			sub, ok := sv[k]
			if !ok {
				*out = append(*out, join(path, k))
				continue
			}
			extra(join(path, k), sub, gv[k], out)
		}
	case []any:
		if len(sv) == 0 {
			return
		}
		for i, e := range g.([]any) {
			extra(fmt.Sprintf("%s[%d]", path, i), sv[0], e, out)
		}
	}
}

// decode parses exactly one JSON value, keeping numbers as json.Number. Its
// errors carry a byte offset but no input text.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err, dec)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: trailing data after the value ending at byte offset %d", end)
	}
	return v, nil
}

func jsonError(err error, dec *json.Decoder) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON: syntax error at byte offset %d", se.Offset)
	case err == io.EOF:
		return errors.New("invalid JSON: empty input")
	case err == io.ErrUnexpectedEOF:
		return errors.New("invalid JSON: unexpected end of input")
	default:
		return fmt.Errorf("invalid JSON near byte offset %d", dec.InputOffset())
	}
}

func typeOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return typeObject
	case []any:
		return typeArray
	case string:
		return typeString
	case json.Number:
		return typeNumber
	case bool:
		return typeBool
	case nil:
		return typeNull
	default:
		return fmt.Sprintf("%T", v) // unreachable with encoding/json
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func show(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// normalize turns an optional path into the index-free form used for lookups:
// "a[].b" and "a[0].b" both become "a.b".
func normalize(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '[' {
			if j := strings.IndexByte(p[i:], ']'); j >= 0 {
				i += j
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
