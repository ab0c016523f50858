package body

import "sync"

// formDocs recycles the parse state of urlencoded bodies (the doc, its
// pairs, recorded edits, Bytes' splices and arena, the texts listed), as
// jsonDocs does JSON's: parsed twice per outbound request (the merchant's
// body, then the built one that Result.Verify reads again), a checkout
// form's pairs alone were 2 KB a parse.
var formDocs = sync.Pool{New: func() any { return new(formDoc) }}

// releaseForm is Release for a form doc. Everything that held the body's or
// an edit's text is wiped first, kept or not: the arena holds the values
// written (a card number, a network token, a cryptogram), the ops and new
// fields the caller's strings, the pairs and texts strings into the body.
// The decoded names' array is not the doc's to keep (see parseForm).
func releaseForm(d *formDoc) {
	clear(d.pairs)
	clear(d.ops[:cap(d.ops)])
	clear(d.added[:cap(d.added)])
	clear(d.sp.sp[:cap(d.sp.sp)])
	clear(d.sp.arena[:cap(d.sp.arena)])
	clear(d.texts[:cap(d.texts)])
	if len(d.pairs) > maxPooledEntries || cap(d.ops) > maxPooledEntries || cap(d.added) > maxPooledEntries ||
		cap(d.sp.sp) > maxPooledEntries || cap(d.sp.arena) > 64*maxPooledEntries || cap(d.texts) > maxPooledEntries {
		return // a big body's room is left to the garbage collector
	}
	*d = formDoc{pairs: d.pairs[:0], ops: d.ops[:0], added: d.added[:0],
		sp: splicer{sp: d.sp.sp[:0], arena: d.sp.arena[:0]}, texts: d.texts[:0]}
	formDocs.Put(d)
}

// appendQueryEscape appends s escaped as url.QueryEscape escapes it,
// straight into the arena: QueryEscape's own string would be one more
// allocation per edited value, and a copy of it (a cryptogram has '=') the
// pool could not wipe.
func appendQueryEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}
