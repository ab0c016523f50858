package responseguard

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"github.com/tokengate/tokengate/card"
)

// maxSpan is the longest card number spelling the finder reports.
const maxSpan = card.MaxSpan

func isDigit(c byte) bool { return c-'0' <= 9 }

func isAlnum(c byte) bool {
	return c-'0' <= 9 || c|0x20-'a' <= 'z'-'a'
}

// decodable is what an escape may stand for and normalize decodes: the
// characters card numbers, CVVs and base64 or hex cryptograms are written
// with. Anything else (a quote, a backslash) stays escaped, or decoding
// would change what the document means.
func decodable(r int) bool {
	return r < 128 && (isAlnum(byte(r)) || r == '+' || r == '/' || r == '=' || r == '-' || r == '_' || r == '.')
}

// maxEscape is the longest escape normalize decodes: "&#x0000002B;".
const maxEscape = 12

// normalize appends in to out with JSON \uXXXX escapes (either case),
// JSON "\/" and HTML numeric character references of decodable characters
// decoded. It is normalizeStream for a complete input.
func normalize(out, in []byte, final bool) []byte {
	out, _ = normalizeStream(out, in, final)
	return out
}

// normalizeStream normalizes in and reports how much of it it consumed:
// unless final, it stops before an escape the end of in could cut.
func normalizeStream(out, in []byte, final bool) ([]byte, int) {
	limit := len(in)
	if !final {
		limit -= maxEscape
	}
	i := 0
	for i < limit {
		k := i
		for k < limit && in[k] != '\\' && in[k] != '&' {
			k++
		}
		out = append(out, in[i:k]...)
		if i = k; i >= limit {
			break
		}
		c, n := unescape(in[i:])
		switch {
		case n == 0:
			out = append(out, in[i])
			i++
		case c < 0: // a pair to keep as it is: "\\"
			out = append(out, in[i:i+n]...)
			i += n
		default:
			out = append(out, byte(c))
			i += n
		}
	}
	return out, max(i, 0)
}

// unescape reads the escape at the start of s: the character it stands
// for and its length, or n == 0 when it is not one to decode, or c < 0 for
// JSON's escaped backslash, which must be skipped whole.
func unescape(s []byte) (c, n int) {
	if s[0] == '\\' {
		if len(s) < 2 {
			return 0, 0
		}
		switch s[1] {
		case '\\':
			return -1, 2
		case '/':
			return '/', 2
		case 'u':
			if len(s) < 6 {
				return 0, 0
			}
			v, ok := hexValue(s[2:6])
			if !ok || !decodable(v) {
				return 0, 0
			}
			return v, 6
		}
		return 0, 0
	}
	// "&#NN;" or "&#xHH;"
	if len(s) < 4 || s[1] != '#' {
		return 0, 0
	}
	j, v, digits := 2, 0, 0
	hexa := s[2] == 'x' || s[2] == 'X'
	if hexa {
		j++
	}
	for ; j < len(s) && j < maxEscape && s[j] != ';'; j++ {
		d, ok := hexDigit(s[j])
		if !ok || !hexa && d > 9 {
			return 0, 0
		}
		if hexa {
			v = v*16 + d
		} else {
			v = v*10 + d
		}
		digits++
	}
	if digits == 0 || j >= len(s) || s[j] != ';' || !decodable(v) {
		return 0, 0
	}
	return v, j + 1
}

func hexDigit(c byte) (int, bool) {
	switch {
	case isDigit(c):
		return int(c - '0'), true
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return int(c|0x20-'a') + 10, true
	}
	return 0, false
}

func hexValue(s []byte) (int, bool) {
	v := 0
	for _, c := range s {
		d, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		v = v*16 + d
	}
	return v, true
}

// tokenBytes marks the characters of a base64 (either alphabet) or hex
// token, as a table: tokens reads every byte of a response and of the
// merchant's request through it.
var tokenBytes = func() (t [256]bool) {
	for c := range t {
		b := byte(c)
		t[c] = isAlnum(b) || b == '+' || b == '/' || b == '_' || b == '-'
	}
	return t
}()

// tokenAt is the length of the token character at s[i]: 1, 3 for a
// percent-encoded '+' or '/', 0 if there is none.
func tokenAt(s []byte, i int) int {
	if tokenBytes[s[i]] {
		return 1
	}
	if s[i] == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2]|0x20 == 'b' || s[i+2]|0x20 == 'f') {
		return 3
	}
	return 0
}

// padAt is the length of the padding character at s[i]: 1 for '=', 3 for
// "%3D", 0 if there is none.
func padAt(s []byte, i int) int {
	if s[i] == '=' {
		return 1
	}
	if s[i] == '%' && i+2 < len(s) && s[i+1] == '3' && s[i+2]|0x20 == 'd' {
		return 3
	}
	return 0
}

// tokens calls visit for each maximal base64 or hex token of s (token
// characters, then at most two padding characters) whose length in
// characters once percent-decoded is in lens, as s[start:end]. Every
// caller decodes only a cryptogram's lengths: checked here, the visit (an
// indirect call) is skipped for the many tokens of other lengths.
func tokens(s []byte, lens lengths, visit func(start, end, chars int, tok []byte)) {
	for i := 0; i < len(s); {
		if c := s[i]; !tokenBytes[c] && (c != '%' || tokenAt(s, i) == 0) {
			i++
			continue
		}
		start, chars := i, 0
		for i < len(s) {
			// Runs of plain token characters in a tight loop: most of a
			// body is letters and digits.
			j := i
			for j < len(s) && tokenBytes[s[j]] {
				j++
			}
			chars += j - i
			if i = j; i == len(s) || s[i] != '%' {
				break
			}
			n := tokenAt(s, i)
			if n == 0 {
				break
			}
			i += n
			chars++
		}
		for pads := 0; pads < 2 && i < len(s); pads++ {
			n := padAt(s, i)
			if n == 0 {
				break
			}
			i += n
			chars++
		}
		if lens.has(chars) {
			visit(start, i, chars, s[start:i])
		}
	}
}

// wholeNumbers calls visit for each run of 3 or 4 digits that no letter or
// digit touches.
func wholeNumbers(s []byte, visit func(start, end int)) {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if n := i - start; n >= 3 && n <= 4 && (start == 0 || !isAlnum(s[start-1])) && (i == len(s) || !isAlnum(s[i])) {
			visit(start, i)
		}
	}
}

// memberValues calls visit for the value of each JSON member or form field
// whose name is in names (lower case): the inside of a string, or a bare
// value, at most maxValue bytes.
// In a JSON body (json), a bare value is a word (a number, but no literal)
// and a container's values are visited one by one (containerValues), so
// that masking them keeps the document valid.
func memberValues(s []byte, names map[string]bool, json bool, visit func(start, end int)) {
	isName := func(b []byte) bool {
		if len(b) == 0 || len(b) > maxName {
			return false
		}
		var low [maxName]byte
		for i, c := range b {
			if c-'A' <= 'Z'-'A' {
				c += 'a' - 'A'
			}
			low[i] = c
		}
		return names[string(low[:len(b)])]
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			// "name" : value
			j := i + 1
			for j < len(s) && j-i <= maxName+1 && s[j] != '"' && s[j] != '\\' {
				j++
			}
			if j >= len(s) || s[j] != '"' || !isName(s[i+1:j]) {
				continue
			}
			k := skipSpace(s, j+1)
			if k >= len(s) || s[k] != ':' {
				continue
			}
			k = skipSpace(s, k+1)
			if k >= len(s) {
				continue
			}
			if s[k] == '"' {
				e := k + 1
				for e < len(s) && e-k <= maxValue && s[e] != '"' {
					if s[e] == '\\' {
						e++
					}
					e++
				}
				visit(k+1, min(e, len(s)))
			} else if json {
				if s[k] == '{' || s[k] == '[' {
					containerValues(s, k, visit)
					continue
				}
				e := k
				for e < len(s) && e-k < maxValue && wordChar(s[e]) {
					e++
				}
				if e > k && !literal(s[k:e]) {
					visit(k, e)
				}
			} else {
				e := k
				for e < len(s) && e-k < maxValue && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(s[e])) {
					e++
				}
				if e > k {
					visit(k, e)
				}
			}
		case isAlnum(c) && (i == 0 || bytes.IndexByte([]byte("&?; \t\r\n"), s[i-1]) >= 0):
			// name=value
			j := i
			for j < len(s) && j-i <= maxName && s[j] != '=' && s[j] != '&' {
				j++
			}
			if j >= len(s) || s[j] != '=' || !isName(s[i:j]) {
				continue
			}
			e := j + 1
			for e < len(s) && e-j <= maxValue && bytes.IndexByte([]byte("& \t\r\n\"<;"), s[e]) < 0 {
				e++
			}
			if e > j+1 {
				visit(j+1, e)
			}
		}
	}
}

// skipSpace skips at most eight bytes of JSON whitespace.
func skipSpace(s []byte, i int) int {
	for n := 0; i < len(s) && n < 8 && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'); n++ {
		i++
	}
	return i
}

// scanState carries what a Reader knows between calls to process.
type scanState struct {
	lostDigit bool // the byte before in[0], dropped, was a digit
	count     int  // replacements made so far
	// mask is per byte of in: a card digit to mask. Reused, and all false
	// between calls: process clears only the stretch it set.
	mask  []bool
	js    jsonLex // in a JSON body, the lexer's state at in[from]
	words []word  // in a JSON body, the bare values of in[from:] (reused)
	escs  []int   // in a JSON body, where in[from:] has escaped characters (reused)
	spans []span  // the replacements of one call (reused)
	// noCopy (set by Bytes) lets a final call that replaces nothing write
	// nothing: it sets same, and out is then in as it is.
	noCopy, same bool
}

// span is a range of the input replaced by Mask; quote: by BareMask, as it
// covers a bare value of a JSON body (json.go).
type span struct {
	start, end int
	quote      bool
}

// process appends to out the redacted in[from:cut] and returns cut. in is
// normalized; in[:from] was emitted before and is there as context. Unless
// final, process keeps at least g.hold bytes back and never cuts inside
// anything it replaces; the caller calls again with more input behind them,
// and at least g.hold bytes of context before.
func (g *Guard) process(out *[]byte, in []byte, from int, final bool, st *scanState) int {
	limit := len(in)
	if !final {
		limit = len(in) - g.hold
		if limit <= from {
			return from
		}
	}
	// In a JSON body, a bare value the cut would split is kept whole in
	// this pass (the hold-back covers it), so it is quoted or not at once.
	var words []word
	var escs []int
	if g.json {
		words, escs = st.words[:0], st.escs[:0]
		st.js.scan(in, from, len(in), final, func(w word) { words = append(words, w) }, &escs)
		st.words, st.escs = words, escs
		for _, w := range words {
			if w.short() && w.start < limit && limit < w.end {
				limit = w.end
			}
		}
		// Nor is an escape cut from its backslash: a replacement
		// starting at the escaped character takes the backslash too
		// (below), or "\n" + a match would leave "\***".
		if _, ok := slices.BinarySearch(escs, limit); ok {
			if limit--; limit <= from {
				return from
			}
		}
	}
	spans := st.spans[:0]
	// The mask's true entries lie in mask[lo:hi]: only that stretch is
	// cleared after use, and read when writing out, not the whole input.
	lo, hi := len(in), 0
	defer func() {
		st.spans = spans[:0]
		if lo < hi {
			clear(st.mask[lo:hi])
		}
	}()
	keep := func(s, e int) {
		if s >= from && s < limit {
			spans = append(spans, span{start: s, end: e})
		}
	}
	g.cryptSpans(in, from, limit, final, keep)
	if g.cvvs != nil {
		wholeNumbers(in, func(s, e int) {
			if (e < len(in) || final) && g.cvvs.has(must(cvvIndex(in[s:e]))) {
				keep(s, e)
			}
		})
	}
	if g.names != nil {
		memberValues(in, g.names, g.json, keep)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	if g.json {
		for i := range spans {
			if _, ok := slices.BinarySearch(escs, spans[i].start); ok && spans[i].start > from {
				spans[i].start--
			}
		}
		widen(spans, words)
	}
	// Overlapping replacements become one: their union is masked.
	if len(spans) > 1 {
		merged := spans[:1]
		for _, s := range spans[1:] {
			if last := &merged[len(merged)-1]; s.start < last.end {
				last.end = max(last.end, s.end)
				last.quote = last.quote || s.quote
			} else {
				merged = append(merged, s)
			}
		}
		spans = merged
	}
	cut := limit
	if k := len(spans); k > 0 {
		cut = max(cut, spans[k-1].end)
	}

	// Card numbers: every window the finder reports, masked to first six
	// and last four digits; numbers in exponent notation keep only the
	// first six digits of their mantissa, the last four being perhaps
	// zeros it does not write.
	if cap(st.mask) < len(in) {
		st.mask = make([]bool, len(in)) // all false, like the reused one
	}
	mask := st.mask[:len(in)]
	edges := card.Edges{StartMidGroup: st.lostDigit && len(in) > 0 && isDigit(in[0]), EndMidGroup: !final && len(in) > 0 && isDigit(in[len(in)-1])}
	card.FindAllNumbers(in, edges, func(s, e int) {
		if e <= from || s >= cut {
			return
		}
		if e > from {
			st.count++
		}
		end := e
		if i := bytes.IndexAny(in[s:e], "eE"); i >= 0 {
			end = s + i
		}
		n := 0
		for _, c := range in[s:end] {
			if isDigit(c) {
				n++
			}
		}
		keepLast := 4
		if end != e {
			keepLast = 0
		}
		seen := 0
		for i := s; i < end; i++ {
			if isDigit(in[i]) {
				if seen >= 6 && seen < n-keepLast {
					mask[i] = true
					lo, hi = min(lo, i), max(hi, i+1)
				}
				seen++
			}
		}
	})
	var quotes []int
	if g.json {
		quotes = wordQuotes(words, spans, mask, lo, hi, cut)
	}
	if st.noCopy && final && from == 0 && cut == len(in) && len(spans) == 0 && len(quotes) == 0 && lo >= hi {
		st.same = true // out would be in
		return cut
	}
	if *out == nil && st.noCopy {
		*out = make([]byte, 0, len(in)) // about as long as in
	}
	// Quotes fall before a replacement that starts where they do, and
	// after one they fall inside of.
	prev, qi := from, 0
	upTo := func(end int) {
		for ; qi < len(quotes) && quotes[qi] <= end; qi++ {
			appendMasked(out, in, mask, prev, quotes[qi], lo, hi)
			*out = append(*out, '"')
			prev = quotes[qi]
		}
		appendMasked(out, in, mask, prev, end, lo, hi)
		prev = end
	}
	for _, sp := range spans {
		upTo(sp.start)
		if sp.quote {
			*out = append(*out, BareMask...)
		} else {
			*out = append(*out, Mask...)
		}
		for ; qi < len(quotes) && quotes[qi] < sp.end; qi++ {
			*out = append(*out, '"')
		}
		st.count++
		prev = sp.end
	}
	upTo(cut)
	if g.json && !final {
		// The lexer's state at the cut, for the next call; a final call
		// has none (Bytes, or a Reader's last).
		st.js = st.js.scan(in, from, cut, final, nil, nil)
	}
	return cut
}

// cryptSpans calls keep for each cryptogram in in that starts in
// in[from:limit]: every occurrence of a spelling of one sent (overlapping
// ones too), and every token (tokens) that decodes to one, sent or
// merchant-carried, unless it runs to the end of an input that is not
// final. All of them are made of cryptRun bytes and span minCrypt bytes
// at least: only the maximal runs of such bytes that long are searched,
// found in one pass, rather than the whole input once per spelling and
// once for tokens.
func (g *Guard) cryptSpans(in []byte, from, limit int, final bool, keep func(s, e int)) {
	if len(g.crypts) == 0 && len(g.cryptBytes) == 0 {
		return
	}
	var scratch [64]byte // decodeCrypt's output, only looked up
	rs := 0              // the run being searched starts at in[rs]
	visit := func(s, e, chars int, tok []byte) {
		s, e = rs+s, rs+e
		if s < from || s >= limit || e == len(in) && !final {
			return
		}
		if b, ok := decodeCrypt(scratch[:0], tok); ok && g.cryptLens.has(len(b)) && g.cryptBytes[string(b)] {
			keep(s, e)
		}
	}
	for i := 0; i < len(in); {
		if g.oddCrypt {
			i = len(in) // a spelling may hold any byte: one run
		} else {
			for i < len(in) && !cryptRun[in[i]] {
				i++
			}
			rs = i
			for i < len(in) && cryptRun[in[i]] {
				i++
			}
		}
		// A match starts in [from, limit) and lies within the run.
		if i-rs < g.minCrypt || i <= from || rs >= limit {
			continue
		}
		run := in[rs:i]
		for _, c := range g.crypts {
			for at := max(from-rs, 0); at < limit-rs; {
				k := bytes.Index(run[at:], c)
				if k < 0 {
					break
				}
				keep(rs+at+k, rs+at+k+len(c))
				at += k + 1
			}
		}
		if len(g.cryptBytes) > 0 {
			tokens(run, g.tokenLens, visit)
		}
	}
}

// widen extends each span (sorted by start) that touches a bare value
// seen whole to cover all of it, to be written as a JSON string.
func widen(spans []span, words []word) {
	for i := range spans {
		sp := &spans[i]
		k, _ := slices.BinarySearchFunc(words, sp.start, func(w word, start int) int {
			if w.end <= start {
				return -1
			}
			return 1
		})
		for ; k < len(words) && words[k].start < sp.end; k++ {
			if w := words[k]; w.short() && w.end > sp.start {
				sp.start, sp.end = min(sp.start, w.start), max(sp.end, w.end)
				sp.quote = true
			}
		}
	}
}

// wordQuotes are the offsets, in order, where a quote is written in
// in[from:cut]: around each bare value seen whole that only card-number
// masking touches (a span covering one is quoted itself), and around each
// bare value too long to be seen whole, at whichever of its ends falls in
// this stretch.
// mask is false outside mask[lo:hi].
func wordQuotes(words []word, spans []span, mask []bool, lo, hi, cut int) []int {
	var q []int
	for _, w := range words {
		if w.start >= cut {
			break
		}
		if !w.short() {
			if !w.cont {
				q = append(q, w.start)
			}
			if w.closed && w.end <= cut {
				q = append(q, w.end)
			}
			continue
		}
		if s, e := max(w.start, lo), min(w.end, hi); s >= e || !slices.Contains(mask[s:e], true) {
			continue
		}
		k, _ := slices.BinarySearchFunc(spans, w.start, func(sp span, start int) int {
			if sp.end <= start {
				return -1
			}
			return 1
		})
		if k < len(spans) && spans[k].start < w.end {
			continue // covered by a quoted span
		}
		q = append(q, w.start, w.end)
	}
	return q
}

// appendMasked appends in[s:e] to out with '*' for each byte mask marks;
// mask is false outside mask[lo:hi], which alone is read.
func appendMasked(out *[]byte, in []byte, mask []bool, s, e, lo, hi int) {
	at := len(*out) - s // in[i] lands at (*out)[at+i]
	*out = append(*out, in[s:e]...)
	for i := max(s, lo); i < min(e, hi); i++ {
		if mask[i] {
			(*out)[at+i] = '*'
		}
	}
}

func must(i int, _ bool) int { return i }

// floatNumbers calls visit with the integer, printed in decimal, of each
// number-like token of s (digits with a fraction or an exponent: 1.23e2,
// 12.30E+1, 1230e-1; or with leading zeros, 0123, which an integer parser
// reads as 123) whose value is a whole number from 100 to 9999: what a
// parser that reads it as a float prints back.
func floatNumbers(s []byte, visit func(v []byte)) {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.') {
			i++
			continue
		}
		start := i
		for i < len(s) && (isDigit(s[i]) || s[i] == '.' || s[i]|0x20 == 'e' ||
			(s[i] == '+' || s[i] == '-') && s[i-1]|0x20 == 'e') {
			i++
		}
		tok := s[start:i]
		if i < len(s) && isAlnum(s[i]) || len(tok) > 32 || !bytes.ContainsAny(tok, ".eE") && (len(tok) < 2 || tok[0] != '0') {
			continue
		}
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil || f != math.Trunc(f) || f < 100 || f > 9999 {
			continue
		}
		visit(strconv.AppendInt(nil, int64(f), 10))
	}
}
