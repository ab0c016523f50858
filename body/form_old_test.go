package body

import (
	"strings"
	"unsafe"
)

// parseForm before its docs were pooled (issue 20, sixth pass): a new doc
// and pairs slice per body. Kept for FuzzFormParseAgainstOld.

func parseFormOld(data []byte) (*formDoc, error) {
	s := unsafe.String(unsafe.SliceData(data), len(data))
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !IsHex(s[i+1]) || !IsHex(s[i+2]) {
			return nil, errFormEscape
		}
		j := strings.IndexByte(s[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	d := &formDoc{data: data, s: s, pairs: make([]formPair, 0, strings.Count(s, "&")+1)}
	escaped := 0 // the decoded size of the names with escapes
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if end > start {
			p := formPair{ks: start, ke: end, vs: end, ve: end}
			if eq := strings.IndexByte(s[start:end], '='); eq >= 0 {
				p.ke, p.vs, p.eq = start+eq, start+eq+1, true
			}
			if name := s[p.ks:p.ke]; !formEscaped(name) {
				p.name = name // shares the body's memory
			} else {
				escaped += len(name) - 2*strings.Count(name, "%")
			}
			d.pairs = append(d.pairs, p)
		}
		start = end + 1
	}
	if escaped > 0 {
		// The escaped names (items%5B0%5D%5Bsku%5D), decoded into one
		// array rather than a string each: it is never appended past its
		// capacity, so the strings that view it stay valid.
		arena := make([]byte, 0, escaped)
		for i := range d.pairs {
			p := &d.pairs[i]
			if name := s[p.ks:p.ke]; p.name == "" && name != "" { // decoding never makes a name empty
				at := len(arena)
				arena = AppendFormUnescape(arena, name)
				p.name = unsafe.String(&arena[at], len(arena)-at)
			}
		}
	}
	return d, nil
}
