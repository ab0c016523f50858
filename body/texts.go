package body

// Text is one piece of text a body carries, as a parser behind the gateway
// would read it: a JSON string, number or member name, or a form or
// multipart field's name or value, decoded.
type Text struct {
	// Path is the concrete path of the value (as Value.Path), or of the
	// member or field whose name this is.
	Path string
	// Text is the decoded text.
	Text string
	// Name reports a member or field name rather than a value.
	Name bool
}

// HasDigits reports whether s has at least n ASCII digits: a cheap test
// that lets texts that cannot hold a card number (13 digits) be skipped.
// The first byte of each non-ASCII character counts as a digit, since it
// may be one (fullwidth, Arabic-Indic) that the merchant's parser reads.
func HasDigits(s string, n int) bool {
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i]-'0' <= 9 || s[i] >= 0xC0 {
			n--
		}
	}
	return n <= 0
}

// Texts implements Doc for JSON: the texts were found when the body was
// parsed, in the same pass as the duplicate member names.
func (d *jsonDoc) Texts(visit func(Text)) {
	for _, t := range d.texts {
		visit(t)
	}
}

// namedTexts is Texts for the form kinds: every field's name and value.
func namedTexts(n int, nameAt, valueAt func(int) string, visit func(Text)) {
	const minDigits = MinCardDigits
	for i := 0; i < n; i++ {
		name, value := nameAt(i), ""
		nameHit := HasDigits(name, minDigits)
		if !nameHit {
			if value = valueAt(i); !HasDigits(value, minDigits) {
				continue
			}
		}
		k := 0 // this field's occurrence of its name
		for j := 0; j < i; j++ {
			if nameAt(j) == name {
				k++
			}
		}
		path := occurrencePath(name, k)
		if nameHit {
			visit(Text{Path: path, Text: name, Name: true})
			if value = valueAt(i); !HasDigits(value, minDigits) {
				continue
			}
		}
		visit(Text{Path: path, Text: value})
	}
}

// Texts implements Doc for urlencoded forms. A value is decoded only when
// its encoded form has enough digits: decoding never adds digits (a digit
// comes from a digit or from an escape with a '3' in it).
func (d *formDoc) Texts(visit func(Text)) {
	namedTexts(len(d.pairs), func(i int) string { return d.pairs[i].name },
		func(i int) string {
			raw := d.s[d.pairs[i].vs:d.pairs[i].ve]
			if !HasDigits(raw, MinCardDigits) {
				return ""
			}
			return formUnescape(raw)
		}, visit)
}

// Texts implements Doc for multipart forms: file parts included, since they
// are in memory and a merchant may read them.
func (d *multipartDoc) Texts(visit func(Text)) {
	namedTexts(len(d.parts), func(i int) string { return d.parts[i].name },
		func(i int) string { return d.content(&d.parts[i]) }, visit)
	// The parts' headers and filenames: Go's FileHeader.Filename and
	// Header, multer's originalname, and the like hand them to the
	// merchant. They cannot be rewritten, so they count as names.
	for i := range d.parts {
		if p := &d.parts[i]; HasDigits(p.meta, MinCardDigits) {
			k := 0
			for j := 0; j < i; j++ {
				if d.parts[j].name == p.name {
					k++
				}
			}
			visit(Text{Path: occurrencePath(p.name, k), Text: p.meta, Name: true})
		}
	}
	// The preamble and the epilogue: parsers skip them, but a merchant
	// that logs or stores the raw body keeps them.
	first := d.closeAt
	if len(d.parts) > 0 {
		first = d.parts[0].start
	}
	if first > 0 && HasDigits(d.s[:first], MinCardDigits) {
		visit(Text{Path: "(preamble)", Text: d.s[:first], Name: true})
	}
	if d.closeAt >= 0 {
		if end := d.closeAt + len(d.dash) + 2; end < len(d.s) && HasDigits(d.s[end:], MinCardDigits) {
			visit(Text{Path: "(epilogue)", Text: d.s[end:], Name: true})
		}
	}
}
