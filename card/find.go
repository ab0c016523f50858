package card

import "unsafe"

// A card number inside text is found in any spelling a person, a program or
// a mainstream parser turns into its digits:
//
//   - A run is digit groups joined by separators: one to three of ' ', '-',
//     '.', '/', '\t', '\n', '\r', '+' (a space in a form-encoded text, as a
//     processor's urlencoded answer or a query writes it), NUL (UTF-16LE
//     text puts one between every two characters) or NBSP (C2 A0), so "4111 1111  1111.1111",
//     "4111\r\n1111…" and "4\x001\x00…" are runs.
//   - Every window of consecutive whole groups of a run with 12 to 19 digits
//     in all is a candidate: "4111 1111 1111 1111 123" holds one, and so does
//     "4111-1111-1111-1111-0330". A group is whole when no digit touches it
//     on either side, so "41111111111111111111" (one group of 20) holds
//     none, and a group longer than 19 digits ends every window.
//   - A number in exponent notation, as JSON writers print large numbers
//     (4.111111111111111e15, 4.8953787166211E+15), is read as the integer a
//     JavaScript or Python parser reads: its mantissa's digits moved by the
//     exponent and filled with zeros.
//
// A candidate is a card number when Validate accepts its digits (Luhn, a
// known brand's prefix and length). The finder is linear in the text (at
// most 19 windows end at each group, each of at most 19 digits) and does
// not allocate unless it finds one.

// maxSeps is how many separators may join two groups of a run.
const maxSeps = 3

// MaxSpan is the longest byte range the finder reports: 19 groups of one
// digit joined by three two-byte NBSPs each. A stream that keeps this many
// bytes of context on each side of what it inspects sees every card number
// that touches it.
const MaxSpan = MaxLength + (MaxLength-1)*maxSeps*2

// Edges tells FindNumbersIn that its text is a window of a longer stream:
// StartMidGroup when the stream's digits continue before text[0] (the first
// group is then not known whole, and is no part of any window),
// EndMidGroup when they continue after the end. (A window of whole groups
// is a candidate however long its run, so where a run starts or ends does
// not matter.)
type Edges struct {
	StartMidGroup, EndMidGroup bool
}

// FindNumbers calls visit for each card number in text as the byte range
// text[start:end], in order; the ranges do not overlap (where two windows
// of one run overlap, the one that ends first wins). It does not allocate.
func FindNumbers(text []byte, visit func(start, end int)) {
	scan(text, Edges{}, false, visit)
}

// FindNumbersString is FindNumbers for a string, without copying it.
func FindNumbersString(s string, visit func(start, end int)) {
	scan(unsafe.Slice(unsafe.StringData(s), len(s)), Edges{}, false, visit)
}

// HasNumber reports whether s holds a card number.
func HasNumber(s string) bool {
	found := false
	FindNumbersString(s, func(int, int) { found = true })
	return found
}

// FindNumbersIn is FindNumbers for a window of a stream; see Edges.
func FindNumbersIn(text []byte, e Edges, visit func(start, end int)) {
	scan(text, e, false, visit)
}

// FindAllNumbers is FindNumbersIn reporting every window that is a card
// number, overlapping ones included, ordered by their end: what a masker
// needs, since masking one of two overlapping numbers can leave the other's
// digits readable.
func FindAllNumbers(text []byte, e Edges, visit func(start, end int)) {
	scan(text, e, true, visit)
}

// group is a maximal digit sequence of a run.
type group struct{ start, end int }

func isDigit(c byte) bool { return c-'0' <= 9 }

// sepLen is the length of the separator at text[i], 0 if there is none.
func sepLen(text []byte, i int) int {
	switch text[i] {
	case ' ', '-', '.', '/', '\t', '\n', '\r', 0, '+':
		return 1
	case 0xC2:
		if i+1 < len(text) && text[i+1] == 0xA0 {
			return 2
		}
	}
	return 0
}

// IsSeparator reports whether text[i] starts a separator of card number
// groups.
func IsSeparator(text []byte, i int) bool { return sepLen(text, i) > 0 }

func scan(text []byte, e Edges, all bool, visit func(start, end int)) {
	// recent holds the run's last groups, a ring: no window spans more
	// than MaxLength groups, each having a digit at least.
	var recent [MaxLength]group
	var digits [MaxLength]byte
	reported := 0 // end of the last reported range: !all reports none before it
	for i := 0; i < len(text); {
		for i < len(text) && !isDigit(text[i]) {
			i++ // the common case: text without digits
		}
		if i == len(text) {
			break
		}
		// A run: groups joined by separators.
		n := 0     // groups in recent that windows may still start at
		inRun := 0 // their digits
		for {
			g := group{start: i}
			for i < len(text) && isDigit(text[i]) {
				i++
			}
			g.end = i
			whole := g.end-g.start <= MaxLength &&
				!(g.start == 0 && e.StartMidGroup) && !(g.end == len(text) && e.EndMidGroup)
			if !whole {
				n, inRun = 0, 0 // a group too long, or cut: no window takes it in
			} else {
				if n == MaxLength {
					inRun -= recent[n-1].end - recent[n-1].start
					n--
				}
				copy(recent[1:n+1], recent[:n])
				recent[0] = g
				n++
				inRun += g.end - g.start
				if inRun < MinLength {
					// the common case: no window of this run is long enough
				} else if s, ok := windowsEndingAt(text, recent[:n], &digits, all, reported, visit); ok {
					reported = s
				}
			}
			// Does the run go on?
			j, seps := i, 0
			for j < len(text) && seps < maxSeps {
				l := sepLen(text, j)
				if l == 0 {
					break
				}
				j += l
				seps++
			}
			if seps == 0 || j == len(text) || !isDigit(text[j]) {
				break
			}
			i = j
		}
		if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
			if s, end, _, ok := exponent(text, i, e, &digits); ok {
				if all || s >= reported {
					visit(s, end)
					reported = end
				}
				i = end
			}
		}
	}
}

// windowsEndingAt checks the windows that end with recent[0] (recent[k] is
// the group k places before it) and reports the valid ones, or with !all
// the longest valid one that starts at or after from. It returns the end of
// what it reported.
func windowsEndingAt(text []byte, recent []group, digits *[MaxLength]byte, all bool, from int, visit func(int, int)) (int, bool) {
	// The Luhn sum of each window, counted from its right end, which all
	// share: growing a window to the left only adds digits, so every
	// window costs its new group's digits, and only a window whose sum
	// passes is checked in full.
	var totals, sums [MaxLength]int
	last, total, sum := -1, 0, 0
	for k := range recent {
		g := recent[k]
		if total+g.end-g.start > MaxLength {
			break
		}
		for i := g.end - 1; i >= g.start; i-- {
			d := int(text[i] - '0')
			if total&1 == 1 {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			total++
		}
		totals[k], sums[k], last = total, sum, k
	}
	end := recent[0].end
	if all {
		found := false
		for k := 0; k <= last; k++ {
			if totals[k] >= MinLength && sums[k]%10 == 0 && windowValid(text, recent[:k+1], digits) {
				visit(recent[k].start, end)
				found = true
			}
		}
		return end, found
	}
	for k := last; k >= 0; k-- {
		if totals[k] >= MinLength && sums[k]%10 == 0 && recent[k].start >= from && windowValid(text, recent[:k+1], digits) {
			visit(recent[k].start, end)
			return end, true
		}
	}
	return 0, false
}

// windowValid reports whether the digits of groups (last first) are a card
// number.
func windowValid(text []byte, groups []group, digits *[MaxLength]byte) bool {
	n := 0
	for k := len(groups) - 1; k >= 0; k-- {
		n += copy(digits[n:], text[groups[k].start:groups[k].end])
	}
	return numberValid(digits[:n])
}

// numberValid checks digits with Luhn first, so that Validate (and the
// string it takes) is reached for one candidate in ten.
func numberValid(d []byte) bool {
	if len(d) < MinLength || len(d) > MaxLength {
		return false
	}
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	if sum%10 != 0 {
		return false
	}
	_, err := Validate(string(d))
	return err == nil
}

// maxMantissa bounds the digits of a number in exponent notation the finder
// reads, keeping it linear; JSON writers print at most 17.
const maxMantissa = 40

// exponent reads the number in exponent notation whose 'e' is at text[at]:
// digits, optionally '.' and digits, immediately before; an optional sign
// and digits after. It reports the number's range when its integer value
// is a card number.
func exponent(text []byte, at int, e Edges, digits *[MaxLength]byte) (start, end, n int, ok bool) {
	// The exponent.
	j := at + 1
	neg := false
	if j < len(text) && (text[j] == '+' || text[j] == '-') {
		neg = text[j] == '-'
		j++
	}
	exp, expDigits := 0, 0
	for j < len(text) && isDigit(text[j]) {
		if expDigits++; expDigits > 3 {
			return 0, 0, 0, false
		}
		exp = exp*10 + int(text[j]-'0')
		j++
	}
	if expDigits == 0 || j == len(text) && e.EndMidGroup {
		return 0, 0, 0, false
	}
	if neg {
		exp = -exp
	}
	// The mantissa, read backwards from the 'e'.
	fracEnd := at
	s := at
	for s > 0 && isDigit(text[s-1]) && at-s <= maxMantissa {
		s--
	}
	intStart, intEnd, fracStart := s, at, at
	if s > 1 && text[s-1] == '.' && isDigit(text[s-2]) {
		fracStart, intEnd = s, s-1
		intStart = intEnd
		for intStart > 0 && isDigit(text[intStart-1]) && at-intStart <= maxMantissa {
			intStart--
		}
	}
	if intStart == intEnd || intStart > 0 && (isDigit(text[intStart-1]) || text[intStart-1] == '.') ||
		intStart == 0 && e.StartMidGroup {
		return 0, 0, 0, false // longer than a JSON writer prints, or cut
	}
	// value = int.frac × 10^exp: the point moves exp places right.
	var buf [maxMantissa + 2]byte
	m := copy(buf[:], text[intStart:intEnd])
	m += copy(buf[m:], text[fracStart:fracEnd])
	point := (intEnd - intStart) + exp
	if point < 0 {
		return 0, 0, 0, false
	}
	for k := point; k < m; k++ {
		if buf[k] != '0' {
			return 0, 0, 0, false // a fraction remains: not an integer
		}
	}
	lead := 0
	for lead < min(point, m) && buf[lead] == '0' {
		lead++
	}
	n = 0
	for k := lead; k < point; k++ {
		if n == MaxLength {
			return 0, 0, 0, false
		}
		if k < m {
			digits[n] = buf[k]
		} else {
			digits[n] = '0'
		}
		n++
	}
	if !numberValid(digits[:n]) {
		return 0, 0, 0, false
	}
	return intStart, j, n, true
}

// Digits returns the card number found at text[start:end] by the finder:
// its digits without separators, or, for a number in exponent notation, the
// integer it reads as.
func Digits(run []byte) string {
	for i, c := range run {
		if c == 'e' || c == 'E' {
			var d [MaxLength]byte
			if s, end, n, ok := exponent(run, i, Edges{}, &d); ok && s == 0 && end == len(run) {
				return string(d[:n])
			}
			break
		}
	}
	out := make([]byte, 0, MaxLength)
	for _, c := range run {
		if isDigit(c) {
			out = append(out, c)
		}
	}
	return string(out)
}
