// Package panguard finds card numbers where a merchant's web framework would
// read them, in the spellings a lenient reader turns into digits: the
// request path and its segments, header values and names, cookies, trailers,
// the query string, and bodies no rule set addresses. It is the request
// half of the PAN guard; the body half, which can also tokenize what it
// finds, lives in the tokenize package and uses Number for JSON numbers.
//
// A card number is what card.FindNumbers finds (Luhn, a known brand's prefix
// and length, 13-19 digits, with the separators it knows). On top of that a
// text is read the way mainstream parsers and frameworks may read it before
// the merchant's code sees it: percent-decoded (repeatedly, for double
// encoding), with '+' as a space, with JavaScript/JSON \uXXXX escapes and
// HTML numeric entities decoded, with NUL bytes removed (ASCII written as
// UTF-16), and as a floating-point number (4.111111111111111e15 is read as
// 4111111111111111 by JavaScript and Python). What stays out of reach is a
// text the merchant decodes further in its own way: base64, compression,
// encryption, digits spelled as words.
package panguard

import (
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
)

// minDigits is the fewest ASCII digits a text needs to hold a card number
// in any spelling this package decodes: every decoding (an escape, an
// entity, a float's exponent) turns at least as many digits into one, except
// a float with an exponent, which Number handles on its own.
const minDigits = card.MinLength

// HasNumber reports whether s holds a card number as a lenient reader reads
// it (see the package comment).
func HasNumber(s string) bool {
	if hasFloat(s) {
		if _, ok := Number(s); ok {
			return true
		}
	}
	if !body.HasDigits(s, minDigits) {
		return false
	}
	if card.HasNumber(s) {
		return true
	}
	// Each decoding is applied to the result of the ones before, twice
	// round, so that combinations (a percent-encoded \u escape) are read too.
	// A text none of them changes is not checked again.
	v := s
	for range 2 {
		for _, dec := range decoders {
			w, changed := dec(v)
			if !changed {
				continue
			}
			v = w
			if card.HasNumber(v) {
				return true
			}
			if _, ok := Number(v); ok {
				return true
			}
		}
	}
	return false
}

// hasFloat reports whether s may be a number a float64 parser reads as
// another integer: one with an exponent or a fraction (the spellings that
// hold a card number in fewer digits), or an integer of 16 digits or more,
// beyond 2^53, which a float64 rounds (4111111111111111700 is read as
// 4111111111111111488 or printed back as 4111111111111111700).
func hasFloat(s string) bool {
	if len(s) > 64 {
		return false
	}
	// One pass, for every header and path segment: strings.ContainsAny
	// then body.HasDigits read each clean text twice.
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'e' || c == 'E' || c == '.':
			return true
		case c-'0' <= 9 || c >= 0xC0: // as body.HasDigits counts
			digits++
		}
	}
	return digits >= 16
}

// Number reads s as a floating-point number, as JSON parsers that use
// float64 (JavaScript, Python's float, Go's encoding/json into any) and
// lenient converters (float(" 4.1e15 ")) do, and returns the card number it
// is, if it is one: an integral value of 13-19 digits that passes
// card.Validate, either as printed back by JavaScript (the shortest
// round-trip spelling) or as its exact binary value (Python's int(x)).
func Number(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 || !floatSpelling(s) {
		return "", false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f < 1e12 || f >= 1e19 {
		return "", false
	}
	for _, prec := range []int{-1, 0} {
		n := strconv.FormatFloat(f, 'f', prec, 64)
		if len(n) >= 13 && len(n) <= card.MaxLength {
			if _, err := card.Validate(n); err == nil {
				return n, true
			}
		}
	}
	return "", false
}

// floatSpelling reports whether s is made only of what a decimal float is
// spelled with: digits, a point, an exponent and signs. What strconv.ParseFloat
// reads beyond these (hex with 0x and p, underscores, inf, nan) is not read
// as a card number, and any other byte fails the parse anyway: checked
// first, a path or a header value ("/checkout", "127.0.0.1:8080") costs no
// failed parse (its error allocates).
func floatSpelling(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// decoders are the lenient readings HasNumber tries, in order.
var decoders = []func(string) (string, bool){
	stripNUL,
	unescapeBackslash,
	unescapePercent,
	unescapeEntities,
	foldDigits,
	dropUnderscores,
}

// foldDigits writes every non-ASCII decimal digit (Unicode category Nd:
// fullwidth '４', Arabic-Indic '٤', Devanagari '४', ...) as its ASCII digit:
// Python's int() and float(), Java's Long.parseLong and Character.digit,
// and .NET's char.IsDigit read them as digits, so "４１１１…" is a card
// number to a merchant's code.
func foldDigits(s string) (string, bool) {
	if !hasNonASCII(s) {
		return s, false
	}
	changed := false
	out := strings.Map(func(r rune) rune {
		if r < 0x80 {
			return r
		}
		if d, ok := digitValue(r); ok {
			changed = true
			return '0' + d
		}
		// A space or a dash of another kind between groups (figure space
		// U+2007, ideographic space, U+2010 hyphen, U+2212 minus, en dash:
		// what a word processor or a PDF pastes) is a separator still.
		switch {
		case unicode.Is(unicode.Zs, r):
			changed = true
			return ' '
		case unicode.Is(unicode.Pd, r) || r == '\u2212':
			changed = true
			return '-'
		}
		return r
	}, s)
	return out, changed
}

// dropUnderscores removes an underscore between two digits: Python's int()
// and float() read "4111_1111_1111_1111" as 4111111111111111.
func dropUnderscores(s string) (string, bool) {
	// Most underscores are not between digits ("_ga=GA1.1..." in a
	// cookie): no copy unless one is.
	first := -1
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '_' && s[i-1]-'0' <= 9 && s[i+1]-'0' <= 9 {
			first = i
			break
		}
	}
	if first < 0 {
		return s, false
	}
	var b strings.Builder // one copy ("x86_64" in every Linux browser's User-Agent)
	b.Grow(len(s) - 1)
	b.WriteString(s[:first])
	for i := first; i < len(s); i++ {
		if s[i] == '_' && i > 0 && i+1 < len(s) && s[i-1]-'0' <= 9 && s[i+1]-'0' <= 9 {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// digitValue is the value of a non-ASCII decimal digit. Each range of
// unicode.Nd is a run of whole sets of ten digits, each starting at zero.
func digitValue(r rune) (rune, bool) {
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// stripNUL removes NUL bytes: ASCII written as UTF-16 (either byte order)
// becomes ASCII.
func stripNUL(s string) (string, bool) {
	if strings.IndexByte(s, 0) < 0 {
		return s, false
	}
	return strings.ReplaceAll(s, "\x00", ""), true
}

// unescapeBackslash decodes \uXXXX and \xXX escapes (JSON, JavaScript,
// Python) and drops the backslash of any other escape; invalid escapes are
// left as they are.
func unescapeBackslash(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case 'u':
			if i+6 <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
					b.WriteRune(rune(v))
					i += 5
					continue
				}
			}
		case 'x':
			if i+4 <= len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteRune(rune(v))
					i += 3
					continue
				}
			}
		case 'n', 't', 'r':
			b.WriteByte(' ') // a line break or tab between digit groups
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// unescapePercent decodes %XX escapes, leaving invalid ones, and reads '+'
// as a space, as form and query parsers do; it repeats (up to three times)
// while the text still changes, for double encoding.
func unescapePercent(s string) (string, bool) {
	changed := false
	for range 3 {
		if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
			break
		}
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '%' && i+2 < len(s) && body.IsHex(s[i+1]) && body.IsHex(s[i+2]):
				b.WriteByte(body.Unhex(s[i+1])<<4 | body.Unhex(s[i+2]))
				i += 2
			case c == '+':
				b.WriteByte(' ')
			default:
				b.WriteByte(c)
			}
		}
		if b.String() == s {
			break
		}
		s, changed = b.String(), true
	}
	return s, changed
}

// unescapeEntities decodes HTML numeric character references (&#52; and
// &#x34;) and &nbsp;.
func unescapeEntities(s string) (string, bool) {
	if !strings.Contains(s, "&#") && !strings.Contains(s, "&nbsp;") {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			b.WriteByte(s[i])
			continue
		}
		if strings.HasPrefix(s[i:], "&nbsp;") {
			b.WriteString("\u00a0")
			i += 5
			continue
		}
		end := strings.IndexByte(s[i:min(len(s), i+12)], ';')
		if end > 2 && s[i+1] == '#' {
			ref := s[i+2 : i+end]
			base := 10
			if ref[0] == 'x' || ref[0] == 'X' {
				ref, base = ref[1:], 16
			}
			if v, err := strconv.ParseUint(ref, base, 32); err == nil {
				b.WriteRune(rune(v))
				i += end
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// MaskDigits replaces every ASCII digit of s with X: what a log line or an
// error may show of a name or a URI that holds a card number in some
// spelling, since the spelling cannot be trusted to keep the digits
// together.
func MaskDigits(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return 'X'
		}
		return r
	}, s)
}

// SafeName is name fit to put in a place ("header:<name>"): itself, or with
// its digits masked when it holds a card number.
func SafeName(name string) string {
	if HasNumber(name) {
		return MaskDigits(name)
	}
	return name
}
