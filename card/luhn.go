package card

// Luhn reports whether digits, a string of ASCII digits ending with its check
// digit, passes the Luhn (mod 10) check of ISO/IEC 7812-1. It returns false
// for an empty string or any non-digit, so it can never bless garbage.
func Luhn(digits string) bool {
	if digits == "" {
		return false
	}
	sum, ok := luhnSum(digits, false)
	return ok && sum%10 == 0
}

// LuhnDigit returns the ASCII check digit ('0'-'9') that makes partial+digit
// pass Luhn. It returns 0 (not a digit) when partial contains a non-digit, so
// a caller that forgets to validate builds an obviously invalid number.
func LuhnDigit(partial string) byte {
	// Appending a digit shifts every existing digit one place left, so the
	// rightmost digit of partial is the first to be doubled.
	sum, ok := luhnSum(partial, true)
	if !ok {
		return 0
	}
	return byte('0' + (10-sum%10)%10)
}

// luhnSum adds the digits from the right, doubling every second one; with
// doubleFirst the rightmost digit is doubled (the check digit is still to come).
func luhnSum(s string, doubleFirst bool) (int, bool) {
	sum := 0
	double := doubleFirst
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum, true
}
