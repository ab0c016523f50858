// Package body reads HTTP request bodies safely and edits fields inside JSON,
// urlencoded and multipart bodies without disturbing anything else in them.
//
// Every request the gateway rewrites passes through this package, so the
// editors work on the bytes as received: they locate the fields, collect the
// edits, and apply them all in one pass when Bytes is called. Untouched bytes
// (other fields, whitespace, key order, file parts) come out identical, and a
// body with a thousand cards costs one copy, not a thousand.
package body

import (
	"errors"
	"mime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Kind is the body format the editors understand; it decides which parser
// Parse uses.
type Kind int

// The kinds of body the package can edit. Other bodies are passed through
// untouched by callers, because the gateway cannot find fields in them.
const (
	// Other is any body the package cannot edit.
	Other Kind = iota
	// JSON is application/json, text/json or any application/*+json type.
	JSON
	// Form is an application/x-www-form-urlencoded body.
	Form
	// Multipart is a multipart/form-data body.
	Multipart
)

// String names the kind so that logs and errors read naturally.
func (k Kind) String() string {
	switch k {
	case JSON:
		return "json"
	case Form:
		return "form"
	case Multipart:
		return "multipart"
	default:
		return "other"
	}
}

// KindOf classifies a Content-Type header value. Parameters such as charset
// are tolerated, and a malformed parameter does not hide the media type,
// because clients send sloppy headers and a card must not slip past the
// gateway because of one. multipart/form-data is reported as Multipart even
// without a boundary parameter, so that Parse fails and the caller rejects
// the request instead of forwarding a body it could not inspect.
func KindOf(contentType string) Kind {
	if strings.IndexByte(contentType, ';') < 0 {
		// The usual types without parameters, without ParseMediaType's
		// map: it would read them the same way.
		// ASCII case only: strings.EqualFold also folds "ſ" (U+017F) to
		// "s" and "K" (U+212A) to "k", which ParseMediaType refuses.
		switch t := strings.TrimSpace(contentType); {
		case asciiEqualFold(t, "application/json"):
			return JSON
		case asciiEqualFold(t, "application/x-www-form-urlencoded"):
			return Form
		}
	}
	return kindOfParsed(contentType)
}

// kindOfParsed is KindOf without its fast path: the kind of what
// mime.ParseMediaType reads.
func kindOfParsed(contentType string) Kind {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return Other
	}
	switch {
	case mt == "application/json", mt == "text/json":
		return JSON
	case strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return JSON
	case mt == "application/x-www-form-urlencoded":
		return Form
	case mt == "multipart/form-data":
		return Multipart
	}
	return Other
}

// asciiEqualFold is strings.EqualFold for ASCII letters only; lower is in
// lower case.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Value is one field found in a body by Doc.Find.
//
// Raw may share memory with the body passed to Parse, so that finding a
// thousand cards does not copy them; the body must not be modified while the
// values are in use.
type Value struct {
	// Path is the concrete address of this field, to pass back to Set or
	// Delete: a JSON path with every # replaced by the element index
	// ("cards.2.number"), or a form field name. The second and later
	// occurrences of a repeated form field name are addressed as "name#1",
	// "name#2", ... so that each one can be edited.
	Path string
	// Group is the # indexes joined by "." ("2", "0.1"), so that the fields
	// of one card (number, expiry, cvc) can be matched up. It is "" when the
	// selector has no #. For forms it is "" when the name occurs once and the
	// occurrence index ("0", "1", ...) when it repeats, so that repeated
	// number/cvc pairs group the same way JSON arrays do.
	Group string
	// Raw is the value as text: JSON strings unescaped, JSON numbers as
	// their literal (a card number sent as a number is still its digits),
	// other JSON values as their raw JSON text, form and multipart values
	// decoded.
	Raw string
	// IsString reports whether a JSON value was a string; it is true for
	// form and multipart values, which have no other type.
	IsString bool
}

// Doc is a parsed body whose fields can be read and edited. Edits are
// recorded, not applied, until Bytes is called, so that many edits cost one
// pass over the body. Find always reads the body as it was parsed.
//
// When edits nest (a field and its parent both edited) the outermost edit
// wins; when the same field is edited twice the last edit wins. A Doc
// belongs to one request and is not safe for concurrent use.
type Doc interface {
	// Find returns every field matching the selector, in body order. For
	// JSON the selector is a gjson path whose "#" segments expand to every
	// array element (nested "#" work); for forms and multipart it is an
	// exact field name and every occurrence is returned.
	Find(selector string) []Value
	// Set stores a string value at a concrete path: a Value.Path, or any
	// path naming one field. A JSON value that exists is replaced (whatever
	// its type) and missing parent objects are created; a form field that
	// exists is replaced and one that does not is appended.
	Set(path, value string)
	// SetRaw is Set for a JSON value that is not a string: raw is its JSON
	// text (an integer, true or false), written as it is, so the caller
	// must pass valid JSON. Forms and multipart have no types and store raw
	// as text, as Set does.
	SetRaw(path, raw string)
	// Delete removes the JSON object member or array element, or the form
	// field, at a concrete path. Deleting something missing does nothing.
	Delete(path string)
	// Bytes returns the edited body. Bytes not touched by an edit are
	// identical to the input. With no edits it returns the input itself.
	Bytes() ([]byte, error)
	// Texts calls visit, in body order, for every text of the body as
	// parsed (JSON strings, numbers and member names; form field names and
	// values, multipart file parts included) that has at least
	// MinCardDigits ASCII digits: the texts that could hold a card number.
	Texts(visit func(Text))
}

// Parse parses a body of the given kind so that its fields can be found and
// edited. contentType is the request's Content-Type header; multipart bodies
// need its boundary. Errors never quote the body, because it may hold card
// data.
func Parse(kind Kind, contentType string, data []byte) (Doc, error) {
	switch kind {
	case JSON:
		return parseJSON(data)
	case Form:
		return parseForm(data)
	case Multipart:
		return parseMultipart(contentType, data)
	}
	return nil, errors.New("body: cannot edit a body of kind " + kind.String())
}

// occurrencePath names occurrence i of a repeated form field, so that each
// occurrence has its own address (see Value.Path).
func occurrencePath(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "#" + strconv.Itoa(i)
}

// occurrenceName is the field name an occurrence path addresses: "name#2"
// is a name's third occurrence, so a field added for it is called "name".
func occurrenceName(path string) string {
	h := strings.LastIndexByte(path, '#')
	if h < 0 || h == len(path)-1 {
		return path
	}
	if n, err := strconv.Atoi(path[h+1:]); err != nil || n < 1 || path[h+1] == '+' {
		return path
	}
	return path[:h]
}

// Expand points a selector at one card of a body: group is the card's Group
// (from the Value where its token was found). For JSON it fills the
// selector's `#` segments with the card's indexes; for forms it addresses the
// same occurrence of the field name, so repeated fields pair up card by card.
func Expand(kind Kind, selector, group string) string {
	if group == "" {
		return selector
	}
	if kind == JSON {
		return ExpandPath(selector, group)
	}
	i, err := strconv.Atoi(group)
	if err != nil {
		return selector
	}
	return occurrencePath(selector, i)
}

// findNamed is Find for the form kinds, appending to out: every one of n
// fields whose name is exactly name, as Values addressed by occurrence
// ("name", "name#1", …).
func findNamed(out []Value, n int, nameAt, valueAt func(int) string, name string) []Value {
	count := 0
	for i := 0; i < n; i++ {
		if nameAt(i) == name {
			count++
		}
	}
	if count == 0 {
		return out
	}
	out = slices.Grow(out, count)
	k := 0
	for i := 0; i < n; i++ {
		if nameAt(i) != name {
			continue
		}
		out = append(out, Value{Path: occurrencePath(name, k), Group: occurrenceGroup(k, count), Raw: valueAt(i), IsString: true})
		k++
	}
	return out
}

// occurrenceGroup is the Group of occurrence i among count fields of one name.
func occurrenceGroup(i, count int) string {
	if count < 2 {
		return ""
	}
	return strconv.Itoa(i)
}

// resolveOccurrence finds the field a form path addresses among n named
// fields: an exact name is its first occurrence; "name#i" is occurrence i of
// name when name has that many occurrences. It returns -1 when nothing
// matches.
func resolveOccurrence(n int, nameAt func(int) string, path string) int {
	for i := 0; i < n; i++ {
		if nameAt(i) == path {
			return i
		}
	}
	h := strings.LastIndexByte(path, '#')
	if h < 0 {
		return -1
	}
	want, err := strconv.Atoi(path[h+1:])
	if err != nil || want < 1 || path[h+1] == '+' {
		return -1
	}
	name := path[:h]
	seen := 0
	for i := 0; i < n; i++ {
		if nameAt(i) == name {
			if seen == want {
				return i
			}
			seen++
		}
	}
	return -1
}

// LooksLikeJSON reports whether data is a JSON object or array (after
// optional whitespace), the bodies a merchant framework may parse as JSON
// whatever their Content-Type.
func LooksLikeJSON(data []byte) bool {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	i := skipWS(s, 0)
	return i < len(s) && (s[i] == '{' || s[i] == '[') && gjson.Valid(s)
}

// IsForm reports whether data parses as an urlencoded form.
func IsForm(data []byte) bool {
	d, err := parseForm(data)
	if err != nil {
		return false
	}
	releaseForm(d)
	return true
}
