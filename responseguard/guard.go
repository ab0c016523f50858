// Package responseguard keeps card data a payment processor echoes back from
// reaching the merchant, in response headers and in response bodies of any
// size, streamed with bounded memory.
//
// Its output must not depend on whether a value the merchant put in its
// request equals a secret tokengate put in: otherwise the response is an
// equality oracle, and a merchant that sends every candidate for a card's
// hidden digits learns which one is the card (issue 15). So the guard
// never looks for the card number it sent:
//
//   - Every card number card.FindAllNumbers finds (any spelling, any
//     window) is masked alike to its first six and last four digits.
//   - A cryptogram is replaced by Mask in every spelling a processor
//     plausibly prints (base64 standard or URL alphabet, padded or not,
//     hex in either case, each also percent-encoded), and so is every
//     base64 or hex token of the merchant's request that decodes to as many
//     bytes as a cryptogram sent.
//   - A CVV: where the rule set maps one, the value of any JSON member or
//     form field with a CVV name is replaced by Mask, whatever it holds.
//     When a CVV was sent, every whole number equal to it, or to a number
//     of its length that the merchant's request carried, is replaced by
//     Mask.
//   - Expiry dates are not secrets and are left alone.
//
// Before matching, JSON \uXXXX escapes and "\/", and HTML numeric character
// references, of letters, digits and + / = - _ . are decoded in the output,
// so "\u002B" or "&#52;" spellings cannot hide a value.
//
// In a JSON body (Guard.ForJSON), a bare value (a number) that any of these
// masks becomes a JSON string of what would be written in its place, so a
// valid document stays valid: "exp_year":"***", "n":"555555******4444"
// (json.go).
//
// It knows nothing of Caddy or HTTP handlers; caddymodule's transport wraps
// each response of a detokenized request with a Guard.
package responseguard

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/tokengate/tokengate/card"
)

// Mask replaces a cryptogram or CVV: the same mask the inbound side leaves
// for a kept CVV.
const Mask = "***"

// Secret is one value a request carried out.
//
// Every way of printing a Secret redacts its value, so a stray log line
// cannot leak it.
type Secret struct {
	// Value is the secret as it was sent.
	Value string
	// With is Mask for a cryptogram or CVV; anything else (the merchant's
	// token, for a card number) marks a card number, which the guard does
	// not look for as such: every card number is masked alike.
	With string
	// Whole marks a CVV: it is matched only where no letter or digit
	// touches it.
	Whole bool
}

// String redacts the value.
func (s Secret) String() string {
	return fmt.Sprintf("responseguard.Secret{Value:[redacted] With:%q}", s.With)
}

// GoString redacts like String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Format redacts for every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue redacts for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Options is what a Guard needs for one detokenized request.
type Options struct {
	// Secrets are the values the request carried out.
	Secrets []Secret
	// Request holds what the merchant's own request carried (its body as
	// received, its raw query): each base64 or hex token in it that decodes
	// to a cryptogram's length, and each whole number of a sent CVV's
	// length, is masked like the secret it could be.
	Request [][]byte
	// CVV is set when the rule set maps a cvv field: values under CVV names
	// are masked whether or not this request sent one.
	CVV bool
	// CVVNames adds member or field names (the last name of the rule set's
	// cvv target) to the usual CVV names.
	CVVNames []string
}

// cvvNames are the names processors give a CVV, compared lower-cased.
var cvvNames = []string{"cvv", "cvc", "cvv2", "cvc2", "cid", "csc", "security_code", "card_code", "verification_value"}

// maxName and maxValue bound a CVV member's name and the value masked
// after it, keeping the stream's hold-back bounded.
const (
	maxName  = 40
	maxValue = 64
)

// Guard finds and replaces card data. It is immutable and safe for
// concurrent use; each response body gets its own Reader.
type Guard struct {
	// crypts are the spellings of the cryptograms sent, matched anywhere.
	crypts [][]byte
	// cryptBytes holds the decoded cryptograms, sent and merchant-carried
	// alike, matched as whole base64 or hex tokens; cryptLens their lengths.
	cryptBytes map[string]bool // nil without a cryptogram
	cryptLens  lengths
	// tokenLens are the lengths, in characters, of a cryptogram's
	// spellings: only a token of one of them is decoded.
	tokenLens lengths
	// cvvs marks the whole 3-4-digit numbers to mask: bit n for three
	// digits, 1000+n for four; nil when there are none. A bit set, not a
	// bool per number: every guard of a request that sends a CVV has one.
	cvvs  *cvvSet
	names map[string]bool // CVV member names, lower case; nil when off
	// hold is how many bytes a Reader keeps back, and keeps as context
	// before what it emits: more than any match can span.
	hold int
	// json is set by ForJSON: a masked bare value becomes a JSON string.
	json bool
	// minCrypt is the fewest bytes a cryptogram spelling or a token that
	// may decode to one spans (0 without a cryptogram); oddCrypt is set
	// when a cryptogram was sent with bytes no token holds (cryptRun).
	// They let String skip a value with nothing to redact (unchanged).
	minCrypt int
	oddCrypt bool
}

// New makes a Guard for the secrets of one request alone.
func New(secrets []Secret) *Guard { return NewGuard(Options{Secrets: secrets}) }

// NewGuard makes a Guard for one detokenized request.
func NewGuard(o Options) *Guard {
	g := &Guard{hold: maxSpan + 2}
	// cvvLens has bit n set when a CVV of n digits was sent: only then, and
	// only at that length (the brand's, which the merchant knows), are the
	// merchant's own whole numbers masked like it. Masking every 3-4-digit
	// value the merchant sent on every payment would mask its amounts and
	// years in every answer.
	var cvvLens uint
	var scratch [64]byte // decodeCrypt's output, copied where it is kept
	g.presizeLengths(o.Secrets)
	for _, s := range o.Secrets {
		switch {
		case s.Value == "":
		case s.Whole:
			g.addCVV([]byte(s.Value))
			if n := len(s.Value); n >= 3 && n <= 4 {
				cvvLens |= 1 << n
			}
		case s.With == Mask:
			b, ok := decodeCrypt(scratch[:0], []byte(s.Value))
			if !ok {
				b = []byte(s.Value)
			}
			if g.cryptBytes == nil {
				g.cryptBytes = map[string]bool{}
			}
			g.cryptBytes[string(b)] = true
			g.cryptLens.add(len(b))
			l := len(b)
			ns := [...]int{(l + 2) / 3 * 4, (4*l + 2) / 3, 2 * l, len(s.Value)}
			if m := min(ns[0], ns[1], ns[2], ns[3]); g.minCrypt == 0 || m < g.minCrypt {
				g.minCrypt = m
			}
			for i := 0; i < len(s.Value); i++ {
				g.oddCrypt = g.oddCrypt || !cryptRun[s.Value[i]]
			}
			g.tokenLens.grow(max(ns[0], ns[1], ns[2], ns[3]))
			for _, n := range ns {
				g.tokenLens.add(n)
			}
			k := len(g.crypts)
			g.crypts = appendSpellings(g.crypts, b, s.Value)
			for _, sp := range g.crypts[k:] {
				g.hold = max(g.hold, len(sp)+2)
			}
		}
	}
	if o.CVV {
		g.names = make(map[string]bool, len(cvvNames)+len(o.CVVNames))
		for _, n := range append(cvvNames, o.CVVNames...) {
			if n != "" && len(n) <= maxName {
				g.names[strings.ToLower(n)] = true
			}
		}
		g.hold = max(g.hold, 2*maxName+maxValue+8)
	}
	// The normalized copies hold the request's card data: made in one
	// pooled array, cleared when the guard is built.
	var copies normCopy
	defer copies.release()
	for _, req := range o.Request {
		norm := req
		if hasEscape(req) {
			// Only an escape changes it: without one it is read as is,
			// not copied.
			norm = copies.normalize(req)
		}
		if len(g.cryptLens) > 0 {
			tokens(norm, g.tokenLens, func(s, e, chars int, dec []byte) {
				// Looked up first: the sent cryptogram comes back here
				// (the sent body counts), and a lookup copies no key.
				if b, ok := decodeCrypt(scratch[:0], dec); ok && g.cryptLens.has(len(b)) && !g.cryptBytes[string(b)] {
					g.cryptBytes[string(b)] = true
				}
			})
		}
		if cvvLens != 0 {
			wholeNumbers(norm, func(s, e int) {
				if cvvLens&(1<<(e-s)) != 0 {
					g.addCVV(norm[s:e])
				}
			})
			// A processor that parses the request before echoing it
			// prints a number as its parser read it: 1.23e2 comes back
			// 123 (or 123.0). Each such number is masked like the CVV
			// too, or the echo tells which candidate equals it.
			floatNumbers(norm, func(v []byte) {
				if cvvLens&(1<<len(v)) != 0 {
					g.addCVV(v)
				}
			})
		}
	}
	return g
}

// presizeLengths gives cryptLens and tokenLens, empty, room in one array
// for every length the cryptograms among secrets add: a cryptogram of n
// bytes as sent decodes to at most n bytes (or is kept as sent), and its
// spellings span at most 2n+2 characters (hex; base64 is shorter). One
// allocation where each set grew its own.
func (g *Guard) presizeLengths(secrets []Secret) {
	n := -1
	for _, s := range secrets {
		if s.Value != "" && !s.Whole && s.With == Mask {
			n = max(n, len(s.Value))
		}
	}
	if n < 0 {
		return // no cryptogram: both stay nil
	}
	c, t := n+1, 2*n+3
	buf := make([]bool, c+t)
	g.cryptLens, g.tokenLens = buf[:0:c], buf[c:c:c+t]
}

// lengths is a small set of lengths.
type lengths []bool

// grow makes room for lengths up to n at once, rather than a slice per add.
func (l *lengths) grow(n int) {
	if len(*l) <= n {
		*l = append(*l, make([]bool, n+1-len(*l))...)
	}
}

func (l *lengths) add(n int) {
	l.grow(n)
	(*l)[n] = true
}

func (l lengths) has(n int) bool { return n < len(l) && l[n] }

// addCVV marks a whole number of 3 or 4 digits to mask.
func (g *Guard) addCVV(v []byte) {
	i, ok := cvvIndex(v)
	if !ok {
		return
	}
	if g.cvvs == nil {
		g.cvvs = new(cvvSet)
	}
	g.cvvs[i/64] |= 1 << (i % 64)
}

// cvvSet is a bit per whole number of 3 or 4 digits (cvvIndex).
type cvvSet [(11000 + 63) / 64]uint64

func (c *cvvSet) has(i int) bool { return c[i/64]&(1<<(i%64)) != 0 }

func cvvIndex(v []byte) (int, bool) {
	if len(v) < 3 || len(v) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if len(v) == 4 {
		n += 1000
	}
	return n, true
}

// decodeCrypt reads a cryptogram token in any spelling spellings writes,
// decoding into dst's array when it is large enough (the result is then
// only valid until dst is reused): it runs for every token of a
// cryptogram's length in the request and the response, and so must not
// allocate.
func decodeCrypt(dst, s []byte) ([]byte, bool) {
	if bytes.IndexByte(s, '%') >= 0 {
		// As url.PathUnescape (a '+' is base64's, not a form's space),
		// into an array on the stack rather than three copies.
		var unescaped [128]byte
		if u, ok := pathUnescape(unescaped[:0], s); ok {
			s = u
		}
	}
	if len(s)%2 == 0 {
		d := grow(dst, hex.DecodedLen(len(s)))
		if n, err := hex.Decode(d, s); err == nil {
			return d[:n], true
		}
	}
	for _, enc := range cryptEncodings {
		d := grow(dst, enc.DecodedLen(len(s)))
		if n, err := enc.Decode(d, s); err == nil && n > 0 {
			return d[:n], true
		}
	}
	return nil, false
}

// pathUnescape appends to dst what url.PathUnescape makes of s: every %XX
// decoded, and not ok when a '%' is not followed by two hex digits.
func pathUnescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			dst = append(dst, s[i])
			continue
		}
		if i+2 >= len(s) {
			return nil, false
		}
		hi, ok1 := hexDigit(s[i+1])
		lo, ok2 := hexDigit(s[i+2])
		if !ok1 || !ok2 {
			return nil, false
		}
		dst = append(dst, byte(hi<<4|lo))
		i += 2
	}
	return dst, true
}

// cryptEncodings are the base64 spellings decodeCrypt tries, in order.
var cryptEncodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// grow is dst's array, or a new one, with n bytes.
func grow(dst []byte, n int) []byte {
	if cap(dst) >= n {
		return dst[:n]
	}
	return make([]byte, n)
}

// appendSpellings appends to dst the ways a processor may print
// cryptogram b (sent as sent), each once: base64 in both alphabets, padded
// or not, hex in both cases, and each percent-encoded (url.QueryEscape)
// with upper or lower hex digits. They share one new array: one
// allocation where a string per spelling and per escape made some twenty.
func appendSpellings(dst [][]byte, b []byte, sent string) [][]byte {
	l := len(b)
	forms := len(sent) + 2*((l+2)/3*4) + 2*((4*l+2)/3) + 4*l
	buf := make([]byte, 0, 3*forms+16)
	var spans [21][2]int // 7 forms, each as is, escaped, escaped in lower case
	n := 0
	add := func(start int) {
		s := buf[start:]
		for _, sp := range spans[:n] {
			if string(buf[sp[0]:sp[1]]) == string(s) {
				return // the bytes stay in buf, unused
			}
		}
		spans[n] = [2]int{start, len(buf)}
		n++
	}
	for form := range 7 {
		start := len(buf)
		switch form {
		case 0:
			buf = append(buf, sent...)
		case 1:
			buf = base64.StdEncoding.AppendEncode(buf, b)
		case 2:
			buf = base64.RawStdEncoding.AppendEncode(buf, b)
		case 3:
			buf = base64.URLEncoding.AppendEncode(buf, b)
		case 4:
			buf = base64.RawURLEncoding.AppendEncode(buf, b)
		case 5, 6:
			buf = hex.AppendEncode(buf, b)
			if form == 6 {
				for i := start; i < len(buf); i++ {
					if c := buf[i]; c >= 'a' && c <= 'f' {
						buf[i] = c - 'a' + 'A'
					}
				}
			}
		}
		end := len(buf)
		if end == start {
			continue
		}
		add(start)
		if !needsQueryEscape(buf[start:end]) {
			continue // its escaped spellings are itself
		}
		q := len(buf)
		buf = appendQueryEscape(buf, start, end)
		add(q)
		lower := len(buf)
		buf = append(buf, buf[q:lower]...)
		lowerEscapesIn(buf[lower:])
		add(lower)
	}
	dst = slices.Grow(dst, n)
	for _, sp := range spans[:n] {
		dst = append(dst, buf[sp[0]:sp[1]:sp[1]])
	}
	return dst
}

// needsQueryEscape reports whether appendQueryEscape changes any byte of b.
func needsQueryEscape(b []byte) bool {
	for _, c := range b {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '~' {
			return true
		}
	}
	return false
}

// appendQueryEscape appends url.QueryEscape(buf[start:end]) to buf: every
// byte but letters, digits and - _ . ~ as %XX (upper case), a space as +.
func appendQueryEscape(buf []byte, start, end int) []byte {
	const upper = "0123456789ABCDEF"
	for i := start; i < end; i++ {
		switch c := buf[i]; {
		case isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~':
			buf = append(buf, c)
		case c == ' ':
			buf = append(buf, '+')
		default:
			buf = append(buf, '%', upper[c>>4], upper[c&15])
		}
	}
	return buf
}

// lowerEscapes lower-cases the hex digits of %XX escapes: both cases are valid.
func lowerEscapes(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s // nothing to lower: no copies
	}
	b := []byte(s)
	lowerEscapesIn(b)
	return string(b)
}

// lowerEscapesIn is lowerEscapes in place.
func lowerEscapesIn(b []byte) {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
		}
	}
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// String redacts one complete value, such as a header value, and reports
// how many replacements it made.
func (g *Guard) String(s string) (string, int) {
	if g.unchanged(s) {
		return s, 0 // without the copies and scans below
	}
	return g.string(s)
}

// cryptRun marks the bytes a cryptogram's spelling (appendSpellings) or a
// token that may decode to one (tokens) is made of: token characters, '='
// and the '%' of an escape.
var cryptRun = func() (t [256]bool) {
	t = tokenBytes
	t['%'], t['='] = true, true
	return t
}()

// unchanged reports, from one quick read of s, that the guard (not a JSON
// one) finds nothing to replace in it and that it holds no escape it would
// decode: redacting s gives s. Each thing the guard replaces needs
// something s lacks then: a card number twelve digits joined by nothing
// but separators, or a digit before an exponent's 'e'; a CVV a run of three digits; a CVV name's value '='
// or '"'; a cryptogram a run of minCrypt bytes of cryptRun. A false
// answer only means the value is redacted in full.
func (g *Guard) unchanged(s string) bool {
	if g.json || g.oddCrypt {
		return false
	}
	digits, run, crypt := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isDigit(c) {
			if digits++; digits >= card.MinLength {
				return false
			}
			if run++; run >= 3 && g.cvvs != nil {
				return false
			}
		} else {
			if run > 0 && c|0x20 == 'e' || c == '\\' || c == '&' || g.names != nil && (c == '=' || c == '"') {
				return false
			}
			run = 0
			if !numberSep[c] {
				digits = 0 // no card number runs across c
			}
		}
		if !cryptRun[c] {
			crypt = 0
		} else if crypt++; g.minCrypt > 0 && crypt >= g.minCrypt {
			return false
		}
	}
	return true
}

// numberSep marks the bytes of the separators a card number's digit
// groups may be joined with, each byte of a two-byte one (NBSP) included.
// It is built from card.IsSeparator, so a separator the finder learns is
// one the quick check knows.
var numberSep = func() (t [256]bool) {
	for c := range 256 {
		if card.IsSeparator([]byte{byte(c)}, 0) {
			t[c] = true
			continue
		}
		for d := range 256 {
			if card.IsSeparator([]byte{byte(c), byte(d)}, 0) {
				t[c], t[d] = true, true
			}
		}
	}
	return t
}()

// string is String for a value unchanged does not vouch for.
func (g *Guard) string(s string) (string, int) {
	if s == "" {
		return s, 0
	}
	// The copies in and out of the guard are pooled: a response's every
	// header value goes through here.
	sc := stringScratches.Get().(*stringScratch)
	sc.in = append(sc.in[:0], s...)
	out, n := g.redact(sc.out[:0], sc.in, false)
	res := s
	if n != 0 || string(out) != s {
		res = string(out)
	}
	// A header value may hold card data: cleared before it is reused.
	clear(sc.in)
	clear(out)
	if cap(sc.in) <= maxPooled && cap(out) <= maxPooled {
		sc.in, sc.out = sc.in[:0], out[:0]
		stringScratches.Put(sc)
	}
	return res, n
}

// stringScratches are String's buffers; one larger than maxPooled is
// left to the collector.
var stringScratches = sync.Pool{New: func() any { return new(stringScratch) }}

type stringScratch struct{ in, out []byte }

const maxPooled = 64 << 10

// Bytes redacts one complete body and reports how many replacements it
// made. It returns b itself when there was nothing to replace.
func (g *Guard) Bytes(b []byte) ([]byte, int) {
	// No array for the output until something is replaced: a body
	// without an escape in which nothing is is b itself, not a copy.
	return g.BytesInto(nil, b)
}

// BytesInto is Bytes writing the redacted body into buf's array rather
// than a new one, so that a caller can reuse it. When it returns b itself,
// or a new array (the redacted body outgrew buf's), buf's array holds
// nothing of b.
func (g *Guard) BytesInto(buf, b []byte) ([]byte, int) {
	out, n := g.redact(buf[:0], b, true)
	if cap(buf) > 0 && !sameStart(out, buf) && !sameStart(out, b) {
		// Outgrown: what was written before it moved is cleared. (When
		// redact returns b, nothing was.)
		clear(buf[:cap(buf)])
	}
	if string(out) == string(b) {
		if len(out) > 0 && &out[0] != &b[0] {
			clear(out) // a copy of the answer, card data and all
		}
		return b, n
	}
	return out, n
}

// redact appends the redacted b to out; with noCopy, it may instead
// return, as it is, b or its normalized copy, when nothing in it is
// replaced, and out is allocated only when something is.
func (g *Guard) redact(out, b []byte, noCopy bool) ([]byte, int) {
	st := scanStates.Get().(*scanState)
	defer func() {
		// Offsets and flags only, no card data; kept for the next body.
		*st = scanState{mask: st.mask[:0], words: st.words[:0], escs: st.escs[:0], spans: st.spans[:0]}
		scanStates.Put(st)
	}()
	norm := b
	var copies normCopy // the answer's card data: cleared on return
	defer copies.release()
	if hasEscape(b) {
		// Only an escape changes the body: without one it is read as is,
		// not copied.
		norm = copies.normalize(b)
	}
	st.noCopy = noCopy
	g.process(&out, norm, 0, true, st)
	if st.same {
		if copies.buf == nil || string(norm) == string(b) {
			return b, st.count
		}
		// The pooled copy is about to be cleared: the caller gets its own.
		return append(out, norm...), st.count
	}
	return out, st.count
}

// sameStart reports whether a and b start at the same byte of one array.
func sameStart(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

// hasEscape reports whether b may hold an escape normalize decodes.
func hasEscape(b []byte) bool {
	return bytes.IndexByte(b, '\\') >= 0 || bytes.IndexByte(b, '&') >= 0
}

// scanStates keeps the scratch slices of Bytes's scans between bodies.
var scanStates = sync.Pool{New: func() any { return new(scanState) }}
