package card

import "unsafe"

// A card number inside text is a run of ASCII digits in which single spaces
// or dashes may separate digits ("4111 1111 1111 1111"), or a group of digits
// without separators inside such a run ("qty 5 4111111111111111"), that has
// 13 to 19 digits and passes Validate (Luhn, a known brand's prefix and
// length). It touches no other digit: "41111111111111111111" is not one.

// Edges tells FindNumbersIn that its text is a window of a longer stream that
// begins or ends inside a run, or a group, too long to be a card number,
// whose visible part must therefore not be taken for one.
type Edges struct {
	StartMidRun, StartMidGroup, EndMidRun, EndMidGroup bool
}

// FindNumbers calls visit for each card number in text, in order, as the
// byte range text[start:end]. It is linear and does not allocate.
func FindNumbers(text []byte, visit func(start, end int)) {
	FindNumbersIn(text, Edges{}, visit)
}

// FindNumbersString is FindNumbers for a string, without copying it.
func FindNumbersString(s string, visit func(start, end int)) {
	FindNumbersIn(unsafe.Slice(unsafe.StringData(s), len(s)), Edges{}, visit)
}

// HasNumber reports whether s holds a card number.
func HasNumber(s string) bool {
	found := false
	FindNumbersString(s, func(int, int) { found = true })
	return found
}

// FindNumbersIn is FindNumbers for a window of a stream; see Edges.
func FindNumbersIn(text []byte, e Edges, visit func(start, end int)) {
	for i := 0; i < len(text); {
		for i < len(text) && text[i]-'0' > 9 {
			i++ // the common case: text without digits
		}
		if i == len(text) {
			break
		}
		r, j, digits := i, i+1, 1
		for j < len(text) && Connected(text, j) {
			if text[j]-'0' <= 9 {
				digits++
			}
			j++
		}
		i = j
		if digits < 13 {
			continue // neither the run nor a group in it can be a card
		}
		firstRun, lastRun := r == 0, j == len(text)
		if !(firstRun && e.StartMidRun) && !(lastRun && e.EndMidRun) && isNumber(text[r:j]) {
			visit(r, j)
			continue
		}
		for k := r; k < j; {
			if text[k]-'0' > 9 {
				k++
				continue
			}
			g := k
			for g < j && text[g]-'0' <= 9 {
				g++
			}
			firstGroup, lastGroup := firstRun && k == 0, lastRun && g == len(text)
			if !(firstGroup && e.StartMidGroup) && !(lastGroup && e.EndMidGroup) && isNumber(text[k:g]) {
				visit(k, g)
			}
			k = g
		}
	}
}

// Connected reports whether text[i-1] and text[i] belong to one run.
func Connected(text []byte, i int) bool {
	if i <= 0 || i >= len(text) {
		return false
	}
	a, b := text[i-1], text[i]
	switch {
	case a-'0' <= 9 && b-'0' <= 9:
		return true
	case a-'0' <= 9 && isSep(b):
		return i+1 < len(text) && text[i+1]-'0' <= 9
	case isSep(a) && b-'0' <= 9:
		return i >= 2 && text[i-2]-'0' <= 9
	}
	return false
}

func isSep(c byte) bool { return c == ' ' || c == '-' }

// isNumber reports whether the digits of run are a card number.
func isNumber(run []byte) bool {
	var digits [MaxLength]byte
	n := 0
	for _, c := range run {
		if c-'0' <= 9 {
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
	_, err := Validate(string(digits[:n]))
	return err == nil
}

// Digits returns the digits of a card number found in text, without its
// separators.
func Digits(run []byte) string {
	out := make([]byte, 0, MaxLength)
	for _, c := range run {
		if c-'0' <= 9 {
			out = append(out, c)
		}
	}
	return string(out)
}
