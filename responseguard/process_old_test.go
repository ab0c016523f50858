package responseguard

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tokengate/tokengate/card"
)

// processOld, wordQuotesOld and appendMaskedOld are process and its
// helpers before the mask was cleared and read only where it was set (at
// 38983ff): the whole mask cleared on every call and read byte by byte
// when writing out.

func (g *Guard) processOld(out *[]byte, in []byte, from int, final bool, st *scanState) int {
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
	defer func() { st.spans = spans[:0] }()
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
		st.mask = make([]bool, len(in))
	}
	mask := st.mask[:len(in)]
	clear(mask)
	masked := false
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
					masked = true
				}
				seen++
			}
		}
	})
	var quotes []int
	if g.json {
		quotes = wordQuotesOld(words, spans, mask, from, cut)
	}
	if st.noCopy && final && from == 0 && cut == len(in) && len(spans) == 0 && len(quotes) == 0 && !masked {
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
			appendMaskedOld(out, in[prev:quotes[qi]], mask[prev:quotes[qi]])
			*out = append(*out, '"')
			prev = quotes[qi]
		}
		appendMaskedOld(out, in[prev:end], mask[prev:end])
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

func wordQuotesOld(words []word, spans []span, mask []bool, from, cut int) []int {
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
		if !slices.Contains(mask[w.start:w.end], true) {
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

func appendMaskedOld(out *[]byte, seg []byte, mask []bool) {
	from := len(*out)
	*out = append(*out, seg...)
	for i, m := range mask {
		if m {
			(*out)[from+i] = '*'
		}
	}
}

// process writes, cuts and counts what processOld does, for guards built
// from fuzzed secrets (as FuzzGuardSecretsAgainstOld), plain and JSON, in
// any window of the input, final or not, after a digit was dropped or
// not; its scanState is reused from call to call (with inputs of other
// lengths in between), so a mask entry left set by one call would show in
// the next.
func FuzzProcessAgainstOld(f *testing.F) {
	f.Add(crypt, "123", []byte("x=AAAA&y=987"), true, []byte(`{"c":"`+crypt+`","n":4111111111111111,"m":"4111 1111 1111 1111"}`), uint16(0), true, false)
	f.Add("AQ", "1234", []byte("AQ== 01"), false, []byte(`{"n":[4111111111111111,1234,5.5555555555554444e15],"cvv":987}`), uint16(3), false, true)
	f.Add("", "", []byte(""), false, []byte("card 4111-1111-1111-1111 and 5555555555554444"), uint16(7), false, false)
	var st scanState // shared by every call of the new process
	f.Fuzz(func(t *testing.T, cryptValue, cvv string, merchant []byte, names bool, in []byte, from uint16, final, lostDigit bool) {
		if len(cryptValue) > 80 || len(in) > 4096 {
			return
		}
		g := fuzzedGuard(cryptValue, cvv, merchant, names)
		fr := int(from) % (len(in) + 1)
		for _, g := range []*Guard{g, g.ForJSON()} {
			for _, input := range [][]byte{in, in[:len(in)/2], normalize(nil, in, true)} {
				f := min(fr, len(input))
				var old scanState
				old.lostDigit = lostDigit
				var want []byte
				wcut := g.processOld(&want, input, f, final, &old)
				st = scanState{mask: st.mask, words: st.words, escs: st.escs, spans: st.spans, lostDigit: lostDigit}
				var got []byte
				gcut := g.process(&got, input, f, final, &st)
				if gcut != wcut || string(got) != string(want) || st.count != old.count || st.js != old.js {
					t.Fatalf("%q from %d final %v: cut %d %q (%d), before cut %d %q (%d)", input, f, final, gcut, got, st.count, wcut, want, old.count)
				}
				if slices.Contains(st.mask[:cap(st.mask)], true) {
					t.Fatalf("%q from %d final %v: the mask is left set", input, f, final)
				}
			}
		}
	})
}
