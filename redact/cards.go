package redact

import "github.com/tokengate/tokengate/card"

// Card numbers in a response are what card.FindNumbers finds; this file
// keeps a stream's windows from cutting one in two, and masks them.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isSep(c byte) bool   { return c == ' ' || c == '-' }

var connected = card.Connected

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

// maskCards appends seg to out with its card numbers masked to their first
// six and last four digits. The flags say seg begins or ends inside a run or
// group too long to be a card.
func maskCards(out, seg []byte, startMidRun, startMidGroup, endMidRun, endMidGroup bool, count *int) []byte {
	from := len(out)
	out = append(out, seg...)
	dst := out[from:]
	card.FindNumbersIn(seg, card.Edges{StartMidRun: startMidRun, StartMidGroup: startMidGroup, EndMidRun: endMidRun, EndMidGroup: endMidGroup}, func(start, end int) {
		n := 0
		for _, c := range seg[start:end] {
			if isDigit(c) {
				n++
			}
		}
		seen := 0
		for i := start; i < end; i++ {
			if isDigit(seg[i]) {
				if seen >= 6 && seen < n-4 {
					dst[i] = '*'
				}
				seen++
			}
		}
		*count++
	})
	return out
}
