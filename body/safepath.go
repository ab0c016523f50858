package body

import "strings"

// SafePath returns a field path fit for an error answer or a log line. A
// path is built from member and field names, and those come from the
// caller: a name that is a card number ({"4111111111111111": 1}) would
// otherwise be echoed. Every run of 12 or more digits is replaced by as many
// X.
func SafePath(p string) string {
	run := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] >= '0' && p[i] <= '9' {
			run++
			continue
		}
		if run >= 12 {
			return safePathSlow(p)
		}
		run = 0
	}
	return p
}

func safePathSlow(p string) string {
	var b strings.Builder
	start := -1
	for i := 0; i <= len(p); i++ {
		digit := i < len(p) && p[i] >= '0' && p[i] <= '9'
		switch {
		case digit && start < 0:
			start = i
		case !digit && start >= 0:
			if i-start >= 12 {
				b.WriteString(strings.Repeat("X", i-start))
			} else {
				b.WriteString(p[start:i])
			}
			start = -1
		}
		if !digit && i < len(p) {
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
