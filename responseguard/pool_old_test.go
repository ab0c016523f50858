package responseguard

import "strings"

// NewGuard and redact before their normalized copies (of the merchant's
// request, of an answer with an escape) came from a pool, kept to fuzz the
// pooled ones against: FuzzPooledAgainstOld.

// newGuardUnpooled is NewGuard before its normalized copies of the
// request were pooled (at 1926728).
func newGuardUnpooled(o Options) *Guard {
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
	var norm, buf []byte
	for _, req := range o.Request {
		norm = req
		if hasEscape(req) {
			// Only an escape changes it: without one it is read as is,
			// not copied.
			norm = normalize(buf[:0], req, true)
			buf = norm
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

// redactUnpooled is redact before its normalized copy of the answer
// was pooled (at 1926728).
func (g *Guard) redactUnpooled(out, b []byte, noCopy bool) ([]byte, int) {
	st := scanStates.Get().(*scanState)
	defer func() {
		// Offsets and flags only, no card data; kept for the next body.
		*st = scanState{mask: st.mask[:0], words: st.words[:0], escs: st.escs[:0], spans: st.spans[:0]}
		scanStates.Put(st)
	}()
	norm := b
	if hasEscape(b) {
		// Only an escape changes the body: without one it is read as is,
		// not copied.
		norm = normalize(make([]byte, 0, len(b)), b, true)
	}
	st.noCopy = noCopy
	g.process(&out, norm, 0, true, st)
	if st.same {
		return norm, st.count
	}
	return out, st.count
}

// bytesUnpooled is Bytes over redactUnpooled.
func (g *Guard) bytesUnpooled(b []byte) ([]byte, int) {
	out, n := g.redactUnpooled(nil, b, true)
	if string(out) == string(b) {
		return b, n
	}
	return out, n
}
