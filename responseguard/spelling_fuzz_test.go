package responseguard

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// FuzzSpellings writes each secret in a spelling drawn from what a
// processor plausibly prints (separators, escapes, entities, exponent
// notation, UTF-16, base64 or hex in any variant, percent-encoding), between
// fuzzed text, streams the response through the guard in fuzzed chunks, and
// checks that nothing of the secret survives: not the DPAN's hidden digits,
// not the cryptogram in any spelling, not the CVV as a whole number.
func FuzzSpellings(f *testing.F) {
	f.Add(uint64(1), []byte(`{"a":"`), []byte(`"}`), uint16(1))
	f.Add(uint64(2), []byte("n="), []byte("&x=y"), uint16(7))
	f.Add(uint64(3), []byte("<td>"), []byte("</td>"), uint16(64))
	const cvv = "123"
	g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt20, With: Mask}, {Value: cvv, With: Mask, Whole: true}}, CVV: true})
	f.Fuzz(func(t *testing.T, seed uint64, pre, post []byte, chunk uint16) {
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		pre, post = plain(pre), plain(post)
		for kind, spelt := range []string{spellDPAN(rng), spellCrypt(rng), spellCVV(rng, cvv)} {
			in := string(pre) + " " + spelt + " " + string(post)
			src := &fixedChunks{b: []byte(in), n: int(chunk%257) + 1}
			out, err := io.ReadAll(g.NewReader(io.NopCloser(src)))
			if err != nil {
				t.Fatal(err)
			}
			seen := normalize(nil, out, true)
			switch kind {
			case 0:
				var digits []byte
				for _, c := range seen {
					if isDigit(c) {
						digits = append(digits, c)
					}
				}
				if bytes.Contains(digits, []byte(dpan[6:12])) {
					t.Fatalf("the DPAN's hidden digits survived: %q -> %q", spelt, out)
				}
			case 1:
				un := seen
				if u, err := url.PathUnescape(string(seen)); err == nil {
					un = []byte(u)
				}
				for _, sp := range spellings(cryptBytes, crypt20) {
					if bytes.Contains(un, []byte(sp)) || bytes.Contains(seen, []byte(sp)) {
						t.Fatalf("the cryptogram survived: %q -> %q", spelt, out)
					}
				}
			case 2:
				wholeNumbers(seen, func(s, e int) {
					if string(seen[s:e]) == cvv {
						t.Fatalf("the CVV survived: %q -> %q", spelt, out)
					}
				})
			}
		}
	})
}

// plain drops what could join or spell the secret next to it: digits,
// escapes and entities.
func plain(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if !isDigit(c) && c != '\\' && c != '&' && c != '%' {
			out = append(out, c)
		}
	}
	return out
}

var separators = []string{" ", "-", ".", "/", "\t", "\n", "\r", "\x00", "\u00a0"}

// digitSpelling writes one digit as text, a JSON escape or an HTML entity.
func digitSpelling(rng *rand.Rand, c byte) string {
	switch rng.IntN(6) {
	case 0:
		return fmt.Sprintf(`\u%04x`, c)
	case 1:
		return fmt.Sprintf(`\u%04X`, c)
	case 2:
		return fmt.Sprintf("&#%d;", c)
	case 3:
		return fmt.Sprintf("&#x%x;", c)
	}
	return string(c)
}

func spellDPAN(rng *rand.Rand) string {
	switch rng.IntN(8) {
	case 0:
		e := []string{"e15", "E15", "e+15", "E+15"}[rng.IntN(4)]
		return dpan[:1] + "." + dpan[1:] + e
	case 1:
		return utf16le(dpan)
	}
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteString("12 ") // a group before
	}
	escapes := rng.IntN(3) == 0
	for i := 0; i < len(dpan); i++ {
		if i > 0 && rng.IntN(4) == 0 {
			for n := 1 + rng.IntN(3); n > 0; n-- {
				b.WriteString(separators[rng.IntN(len(separators))])
			}
		}
		if escapes {
			b.WriteString(digitSpelling(rng, dpan[i]))
		} else {
			b.WriteByte(dpan[i])
		}
	}
	if rng.IntN(4) == 0 {
		b.WriteString(" 03") // a group after
	}
	return b.String()
}

func spellCrypt(rng *rand.Rand) string {
	encs := []func([]byte) string{
		base64.StdEncoding.EncodeToString, base64.RawStdEncoding.EncodeToString,
		base64.URLEncoding.EncodeToString, base64.RawURLEncoding.EncodeToString,
		hex.EncodeToString, func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) },
	}
	s := encs[rng.IntN(len(encs))](cryptBytes)
	switch rng.IntN(6) {
	case 0:
		s = url.QueryEscape(s)
	case 1:
		s = lowerEscapes(url.QueryEscape(s))
	case 2:
		s = strings.NewReplacer("+", `\u002B`, "/", `\/`).Replace(s)
	case 3:
		s = strings.NewReplacer("+", `\u002b`, "/", `\u002f`, "=", `\u003d`).Replace(s)
	case 4:
		s = strings.NewReplacer("+", "&#43;", "/", "&#x2F;").Replace(s)
	}
	return s
}

func spellCVV(rng *rand.Rand, cvv string) string {
	switch rng.IntN(4) {
	case 0:
		return `{"cvc":"` + cvv + `"}`
	case 1:
		return "security_code=" + cvv
	case 2:
		var b strings.Builder
		for i := 0; i < len(cvv); i++ {
			b.WriteString(digitSpelling(rng, cvv[i]))
		}
		return b.String()
	}
	return cvv
}
