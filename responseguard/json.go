package responseguard

// JSON bodies. A replacement written where a JSON string holds the value
// ("cvc":"123" -> "cvc":"***") keeps the document valid, but one written
// over a bare value (a number, or true/false/null under a CVV name) does
// not: "exp_year":2030 became "exp_year":*** when a 4-digit CVV was 2030,
// and a card number sent as a number became 555555******4444, which no JSON
// parser reads. In a JSON body the guard therefore writes BareMask, the
// number 0, over a bare value it masks ("exp_year":0): the document stays
// valid and keeps its types, so a typed client still decodes it (Stripe's
// exp_year is an integer, and stripe-go refuses a whole PaymentMethod
// whose exp_year is a string). A bare value only card-number masking
// touches becomes a JSON string holding the masked digits
// ("n":"555555******4444"), which keeps the first six and last four the
// merchant may see; no processor returns a card number as a JSON number.
//
// Whether a bare value is replaced or quoted depends only on whether the
// guard masks part of it, which depends on no secret the merchant does not
// already see masked (the rules in the package comment), so neither
// creates an oracle. A bare value longer than maxWord is always quoted,
// masked or not: a streaming Reader must decide before it has seen such a
// value's end, and no processor writes a number that long.

// BareMask replaces a bare value of a JSON body that the guard masks.
const BareMask = "0"

// maxWord is the longest bare value a Reader sees whole before it emits
// the value's first byte; longer ones are always quoted.
const maxWord = 64

// ForJSON returns a Guard like g for a JSON body: a bare value it masks
// becomes BareMask, so that a valid document stays valid. Header
// values and other bodies use g itself.
func (g *Guard) ForJSON() *Guard {
	j := *g
	j.json = true
	// A bare value that a match starting before the cut touches is seen to
	// its end.
	j.hold = g.hold + maxWord + 2
	return &j
}

func wordChar(c byte) bool { return isAlnum(c) || c == '+' || c == '-' || c == '.' }

// literal reports whether w is one of JSON's literal names, which hold no
// card data and are left as they are.
func literal(w []byte) bool {
	s := string(w)
	return s == "null" || s == "true" || s == "false"
}

// jsonLex is the state of a JSON lexer at a point of a stream: inside a
// string (after a backslash), or inside a bare value.
type jsonLex struct{ inString, escaped, inWord bool }

// word is a bare value of a JSON text: a run of letters, digits and + - .
// outside strings. closed: its end was seen; cont: it began before the
// scan did.
type word struct {
	start, end   int
	closed, cont bool
}

// short reports whether the whole word is in view: it is quoted only if
// something in it is masked.
func (w word) short() bool { return w.closed && !w.cont && w.end-w.start <= maxWord }

// scan lexes in[from:to] from state l, calls visit (if not nil) for each
// bare value, appends to escs (if not nil) the offset of each character a
// backslash escapes in a string, and returns the state at to. A value
// running to to is closed only when to is the end of the final input.
func (l jsonLex) scan(in []byte, from, to int, final bool, visit func(word), escs *[]int) jsonLex {
	ws, cont := -1, l.inWord
	if l.inWord {
		ws = from
	}
	for i := from; i < to; i++ {
		c := in[i]
		if l.inString {
			switch {
			case l.escaped:
				l.escaped = false
				if escs != nil {
					*escs = append(*escs, i)
				}
			case c == '\\':
				l.escaped = true
			case c == '"':
				l.inString = false
			}
			continue
		}
		if wordChar(c) {
			if ws < 0 {
				ws = i
			}
			continue
		}
		if ws >= 0 {
			if visit != nil {
				visit(word{start: ws, end: i, closed: true, cont: cont})
			}
			ws, cont = -1, false
		}
		if c == '"' {
			l.inString = true
		}
	}
	if ws >= 0 && visit != nil {
		visit(word{start: ws, end: to, closed: final && to == len(in), cont: cont})
	}
	// A value that ends exactly at to is over (and was quoted whole, its
	// end being in view): only one that may go on past to is carried.
	l.inWord = ws >= 0 && (to == len(in) || wordChar(in[to]))
	return l
}

// containerValues calls visit for the values inside the JSON object or
// array starting at s[k], within maxValue bytes: the inside of each string
// that is not a member name, and each bare value but literals. A CVV
// member holding a container is masked without breaking the document.
func containerValues(s []byte, k int, visit func(start, end int)) {
	end := min(len(s), k+maxValue)
	depth := 0
	for i := k; i < end; {
		switch c := s[i]; {
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return
			}
			i++
		case c == '"':
			e := i + 1
			for e < end && s[e] != '"' {
				if s[e] == '\\' {
					e++
				}
				e++
			}
			e = min(e, end)
			if n := skipSpace(s, e+1); e >= end || n >= len(s) || s[n] != ':' {
				if e > i+1 {
					visit(i+1, e)
				}
			}
			i = e + 1
		case wordChar(c):
			e := i
			for e < end && wordChar(s[e]) {
				e++
			}
			if !literal(s[i:e]) {
				visit(i, e)
			}
			i = e
		default:
			i++
		}
	}
}
