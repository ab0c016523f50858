package redact

import "github.com/tokengate/tokengate/card"

// A card number in a response is a run of digits in which single spaces or
// dashes may separate digits ("4111 1111 1111 1111"), or a group of digits
// without separators inside such a run ("Qty 5 4111111111111111"), of 13 to
// 19 digits that card.Validate accepts (Luhn, a known brand's prefix and
// length). It is masked to its first six and last four digits.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isSep(c byte) bool   { return c == ' ' || c == '-' }

// connected reports whether in[i-1] and in[i] belong to one run.
func connected(in []byte, i int) bool {
	if i <= 0 || i >= len(in) {
		return false
	}
	a, b := in[i-1], in[i]
	switch {
	case isDigit(a) && isDigit(b):
		return true
	case isDigit(a) && isSep(b):
		return i+1 < len(in) && isDigit(in[i+1])
	case isSep(a) && isDigit(b):
		return i >= 2 && isDigit(in[i-2])
	}
	return false
}

// safeCut moves a cut that would split a run: back to the run's start when
// the run could still be a card (it then goes whole to the next call), or,
// in a run too long to be one card, to just after a separator so that no
// digit group is split. It never moves back past floor, the end of the last
// replaced secret. The flags say the cut is inside a run, or a group.
func safeCut(in []byte, cut, floor int) (int, bool, bool) {
	if !connected(in, cut) {
		return cut, false, false
	}
	start := cut
	for start > floor && cut-start <= maxRun && connected(in, start) {
		start--
	}
	if !connected(in, start) || start == floor {
		return start, false, false
	}
	for s := cut - 1; s > cut-20 && s > floor; s-- {
		if isSep(in[s]) {
			return s + 1, true, false
		}
	}
	return cut, true, true
}

// maskCards appends seg to out with its card numbers masked. The flags say
// seg begins or ends inside a run or group too long to be a card, whose
// visible part must therefore not be taken for one.
func maskCards(out, seg []byte, startMidRun, startMidGroup, endMidRun, endMidGroup bool, count *int) []byte {
	from := len(out)
	out = append(out, seg...)
	dst := out[from:]
	for i := 0; i < len(seg); {
		for i < len(seg) && seg[i]-'0' > 9 {
			i++ // the common case: text without digits
		}
		if i == len(seg) {
			break
		}
		r, j, digits := i, i+1, 1
		for j < len(seg) && connected(seg, j) {
			if isDigit(seg[j]) {
				digits++
			}
			j++
		}
		i = j
		if digits < 13 {
			continue // neither the run nor a group in it can be a card
		}
		firstRun, lastRun := r == 0, j == len(seg)
		if !(firstRun && startMidRun) && !(lastRun && endMidRun) && maskRun(dst[r:j], seg[r:j]) {
			*count++
			continue
		}
		for k := r; k < j; {
			if !isDigit(seg[k]) {
				k++
				continue
			}
			e := k
			for e < j && isDigit(seg[e]) {
				e++
			}
			firstGroup, lastGroup := firstRun && k == 0, lastRun && e == len(seg)
			if !(firstGroup && startMidGroup) && !(lastGroup && endMidGroup) && maskRun(dst[k:e], seg[k:e]) {
				*count++
			}
			k = e
		}
	}
	return out
}

// maskRun masks run into dst (the same bytes) when its digits are a card
// number, keeping separators, and reports whether it did.
func maskRun(dst, run []byte) bool {
	var digits [19]byte
	n := 0
	for _, c := range run {
		if isDigit(c) {
			if n == len(digits) {
				return false
			}
			digits[n] = c
			n++
		}
	}
	if n < 13 {
		return false
	}
	if _, err := card.Validate(string(digits[:n])); err != nil {
		return false
	}
	seen := 0
	for i, c := range run {
		if isDigit(c) {
			if seen >= 6 && seen < n-4 {
				dst[i] = '*'
			}
			seen++
		}
	}
	return true
}
