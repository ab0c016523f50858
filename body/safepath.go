package body

import "github.com/tokengate/tokengate/card"

// SafePath returns a field path fit for an error answer or a log line. A
// path is built from member and field names, and those come from the
// caller: a name that is a card number ({"4111111111111111": 1}, or
// {"4111 1111 1111 1111": 1} and the form field 4111+1111+1111+1111)
// would otherwise be echoed. Every card number the card-number finder
// (card.FindNumbersString) sees has its digits, and any other byte it
// takes for part of it but an ASCII separator, replaced by X; and every
// run of 12 or more digits is replaced by as many X whether or not it is a
// card number, as a card number cut short or long still gives most of one
// away.
func SafePath(p string) string {
	var mask []bool // nil until something is to be masked
	card.FindNumbersString(p, func(start, end int) {
		if mask == nil {
			mask = make([]bool, len(p))
		}
		for i := start; i < end; i++ {
			mask[i] = p[i] >= 0x80 || p[i] >= '0' && p[i] <= '9'
		}
	})
	run := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] >= '0' && p[i] <= '9' {
			run++
			continue
		}
		if run >= 12 {
			if mask == nil {
				mask = make([]bool, len(p))
			}
			for j := i - run; j < i; j++ {
				mask[j] = true
			}
		}
		run = 0
	}
	if mask == nil {
		return p
	}
	b := []byte(p)
	for i, m := range mask {
		if m {
			b[i] = 'X'
		}
	}
	return string(b)
}
