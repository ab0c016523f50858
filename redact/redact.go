// Package redact keeps card data a payment processor echoes back from
// reaching the merchant: it removes the exact values a detokenized request
// carried (PAN, network token, cryptogram, CVV) and masks any other card
// number, in response headers and in response bodies of any size, streamed
// with bounded memory.
//
// It knows nothing of Caddy or HTTP handlers; caddymodule's transport wraps
// each response of a detokenized request with a Guard.
package redact

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a cryptogram or CVV: the same mask the inbound side leaves
// for a kept CVV.
const Mask = "***"

// Secret is one value a request carried out and must not come back, with
// what takes its place in the response.
//
// Every way of printing a Secret redacts its value, so a stray log line
// cannot leak it.
type Secret struct {
	// Value is the secret as it was sent.
	Value string
	// With replaces it: the merchant's token for a PAN or network token,
	// Mask for a cryptogram or CVV.
	With string
	// Whole matches Value only where no letter or digit touches it on either
	// side. Short values (a CVV) need it: "123" inside "41234" is not a CVV.
	Whole bool
}

// String redacts the value.
func (s Secret) String() string {
	return fmt.Sprintf("redact.Secret{Value:[redacted] With:%q}", s.With)
}

// GoString redacts like String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Format redacts for every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue redacts for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// pattern is one spelling of a secret to look for.
type pattern struct {
	find  []byte
	with  []byte
	whole bool
}

// Guard finds and replaces secrets and card numbers. It is immutable and
// safe for concurrent use; each response body gets its own Reader.
type Guard struct {
	patterns []pattern
	// hold is how many bytes at the end of the input a Reader keeps back
	// until it sees what follows: enough for the longest pattern plus the
	// byte after it, and for the longest spaced card number.
	hold int
}

// maxRun is the longest card number with a separator between every digit.
const maxRun = 19*2 - 1

// New makes a Guard for the secrets of one request. Each secret is also
// looked for as JSON escapes it ("\/") and as forms and URLs encode it, the
// spellings a processor echoing a request uses.
func New(secrets []Secret) *Guard {
	g := &Guard{hold: maxRun + 2, patterns: make([]pattern, 0, 2*len(secrets))}
	add := func(find string, s Secret) {
		for _, p := range g.patterns {
			if string(p.find) == find {
				return
			}
		}
		g.patterns = append(g.patterns, pattern{find: []byte(find), with: []byte(s.With), whole: s.Whole})
		g.hold = max(g.hold, len(find)+2)
	}
	for _, s := range secrets {
		if s.Value == "" {
			continue
		}
		add(s.Value, s)
		if strings.IndexFunc(s.Value, needsEscape) < 0 {
			continue // digits and letters: spelled the same everywhere
		}
		add(strings.ReplaceAll(s.Value, "/", `\/`), s)
		q := url.QueryEscape(s.Value)
		add(q, s)
		add(lowerEscapes(q), s)
	}
	// Longest first, so a spelling that contains another wins at one place.
	if len(g.patterns) > 1 {
		slices.SortStableFunc(g.patterns, func(a, b pattern) int { return len(b.find) - len(a.find) })
	}
	return g
}

func needsEscape(r rune) bool {
	return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' || r == '.')
}

// lowerEscapes lower-cases the hex digits of %XX escapes: both cases are valid.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
		}
	}
	return string(b)
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
	if s == "" {
		return s, 0
	}
	var st scanState
	out := make([]byte, 0, len(s))
	g.process(&out, []byte(s), true, &st)
	if st.count == 0 {
		return s, 0
	}
	return string(out), st.count
}

// Bytes redacts one complete body and reports how many replacements it
// made. It returns b itself when there was nothing to replace.
func (g *Guard) Bytes(b []byte) ([]byte, int) {
	var st scanState
	out := make([]byte, 0, len(b))
	g.process(&out, b, true, &st)
	if st.count == 0 {
		return b, 0
	}
	return out, st.count
}

// match is a pattern found in the input.
type match struct {
	start, end int
	with       []byte
}

// scanState carries what a Reader knows about the input before in[0].
type scanState struct {
	midRun   bool // in[0] continues a spaced digit run too long to be a card
	midGroup bool // in[0] continues a digit group too long to be a card
	before   byte // the byte before in[0], 0 at the start
	count    int  // replacements made so far
}

// process appends the redacted in[:n] to out and returns n, the number of
// bytes consumed. Unless final, it stops where nothing that straddles the
// boundary (a secret, a card number) could be cut in two, keeping at least
// g.hold bytes back; the caller calls again with more input behind those.
func (g *Guard) process(out *[]byte, in []byte, final bool, st *scanState) int {
	limit := len(in)
	if !final {
		limit = len(in) - g.hold
		if limit <= 0 {
			return 0
		}
	}
	matches := g.find(in, limit, st.before)
	cut, floor := limit, 0
	if k := len(matches); k > 0 {
		floor = matches[k-1].end
		cut = max(cut, floor)
	}
	var endMidRun, endMidGroup bool
	if !final {
		cut, endMidRun, endMidGroup = safeCut(in, cut, floor)
	}
	prev, first := 0, true
	for _, m := range matches {
		if m.start >= cut {
			break
		}
		*out = maskCards(*out, in[prev:m.start], first && st.midRun, first && st.midGroup, false, false, &st.count)
		*out = append(*out, m.with...)
		st.count++
		prev, first = m.end, false
	}
	*out = maskCards(*out, in[prev:cut], first && st.midRun, first && st.midGroup, endMidRun, endMidGroup, &st.count)
	st.midRun, st.midGroup = endMidRun, endMidGroup
	if cut > 0 {
		st.before = in[cut-1]
	}
	return cut
}

// find returns the non-overlapping pattern matches that start before limit,
// in order; at one position the longest pattern wins. before is the byte
// that preceded in[0].
func (g *Guard) find(in []byte, limit int, before byte) []match {
	var all []match
	for _, p := range g.patterns {
		for from := 0; from < limit; {
			i := bytes.Index(in[from:], p.find)
			if i < 0 || from+i >= limit {
				break
			}
			start := from + i
			end := start + len(p.find)
			from = start + 1
			prev := before
			if start > 0 {
				prev = in[start-1]
			}
			if p.whole && (isAlnum(prev) || end < len(in) && isAlnum(in[end])) {
				continue
			}
			all = append(all, match{start: start, end: end, with: p.with})
		}
	}
	if len(all) < 2 {
		return all
	}
	slices.SortStableFunc(all, func(a, b match) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return (b.end - b.start) - (a.end - a.start)
	})
	kept := all[:0]
	end := 0
	for _, m := range all {
		if m.start >= end {
			kept = append(kept, m)
			end = m.end
		}
	}
	return kept
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
