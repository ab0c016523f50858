package explain

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
)

// encodings are the ways a value may appear in a built body: as it is
// (multipart), inside a JSON string, and query-escaped (forms).
func encodings(v string) []string {
	js := string(gjson.AppendJSONString(nil, v))
	js = js[1 : len(js)-1]
	out := []string{v}
	for _, e := range []string{js, url.QueryEscape(v)} {
		if e != v {
			out = append(out, e)
		}
	}
	return out
}

// replaceValue replaces v, in each of its encodings, by ph as it is: the
// output is for reading, so <token> stays readable in a form body too.
func replaceValue(out []byte, v, ph string) []byte {
	for _, e := range encodings(v) {
		out = bytes.ReplaceAll(out, []byte(e), []byte(ph))
	}
	return out
}

// leaf is one scalar field of a body.
type leaf struct{ path, value string }

// changes lists the fields of out that differ from in: replaced or added
// in out's order, then removed in in's. Values are out's only.
func changes(kind body.Kind, ct string, in, out []byte) ([]Change, error) {
	before, err := leaves(kind, ct, in)
	if err != nil {
		return nil, err
	}
	after, err := leaves(kind, ct, out)
	if err != nil {
		return nil, fmt.Errorf("reading the body as it would leave: %w", err)
	}
	was := make(map[string]string, len(before))
	for _, l := range before {
		was[l.path] = l.value
	}
	is := make(map[string]bool, len(after))
	cs := []Change{}
	for _, l := range after {
		is[l.path] = true
		old, ok := was[l.path]
		switch {
		case !ok:
			cs = append(cs, Change{Op: "added", Path: l.path, Value: l.value})
		case old != l.value:
			cs = append(cs, Change{Op: "replaced", Path: l.path, Value: l.value})
		}
	}
	for _, l := range before {
		if !is[l.path] {
			cs = append(cs, Change{Op: "removed", Path: l.path})
		}
	}
	return cs, nil
}

// leaves reads every scalar field of a body with its path as the rules
// name it ("source.number", "cards.0.cvc"; a form field's name, "name#1"
// for its second occurrence).
func leaves(kind body.Kind, ct string, data []byte) ([]leaf, error) {
	switch kind {
	case body.JSON:
		var out []leaf
		jsonLeaves(gjson.ParseBytes(data), "", &out)
		return out, nil
	case body.Form:
		var pairs [][2]string
		for _, p := range strings.Split(string(data), "&") {
			if p == "" {
				continue
			}
			name, value, _ := strings.Cut(p, "=")
			n, err1 := url.QueryUnescape(name)
			v, err2 := url.QueryUnescape(value)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("form field %d has an invalid percent escape", len(pairs)+1)
			}
			pairs = append(pairs, [2]string{n, v})
		}
		return named(pairs), nil
	case body.Multipart:
		_, params, err := mime.ParseMediaType(ct)
		if err != nil || params["boundary"] == "" {
			return nil, fmt.Errorf("multipart content type without a boundary")
		}
		r := multipart.NewReader(bytes.NewReader(data), params["boundary"])
		var pairs [][2]string
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("multipart part %d: %w", len(pairs)+1, err)
			}
			v, err := io.ReadAll(p)
			if err != nil {
				return nil, fmt.Errorf("multipart part %d: %w", len(pairs)+1, err)
			}
			pairs = append(pairs, [2]string{p.FormName(), string(v)})
		}
		return named(pairs), nil
	}
	return nil, fmt.Errorf("cannot read a %s body", kind)
}

// named gives repeated names their occurrence paths, as body.Value.Path.
func named(pairs [][2]string) []leaf {
	count := map[string]int{}
	out := make([]leaf, 0, len(pairs))
	for _, p := range pairs {
		path := p[0]
		if k := count[p[0]]; k > 0 {
			path += "#" + strconv.Itoa(k)
		}
		count[p[0]]++
		out = append(out, leaf{path, p[1]})
	}
	return out
}

func jsonLeaves(r gjson.Result, path string, out *[]leaf) {
	if !r.IsObject() && !r.IsArray() || !hasMembers(r) {
		// A scalar, or an empty object or array: one field.
		*out = append(*out, leaf{path, r.Raw})
		return
	}
	i := 0
	r.ForEach(func(k, v gjson.Result) bool {
		seg := strconv.Itoa(i)
		if r.IsObject() {
			seg = escapeKey(k.Str)
		}
		i++
		p := seg
		if path != "" {
			p = path + "." + seg
		}
		jsonLeaves(v, p, out)
		return true
	})
}

func hasMembers(r gjson.Result) bool {
	has := false
	r.ForEach(func(_, _ gjson.Result) bool { has = true; return false })
	return has
}

// escapeKey escapes a member name's gjson path characters.
func escapeKey(k string) string {
	var b strings.Builder
	for _, c := range k {
		if strings.ContainsRune(`.*?|#@\!=<>%`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
