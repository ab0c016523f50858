package body

import (
	"bytes"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

// cardsJSON builds {"merchant":...,"cards":[{number,cvc,exp,holder,pad}...]}
// with n cards, each padded with pad bytes of filler, for tests and
// benchmarks.
func cardsJSON(n, pad int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"merchant":"m_123","currency":"EUR","cards":[`)
	filler := bytes.Repeat([]byte("x"), pad)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"holder":"Jane Doe","number":"4111111111111111","cvc":"123","exp_month":"12","exp_year":"2030","note":"`)
		b.Write(filler)
		b.WriteString(`"}`)
	}
	b.WriteString(`],"total":1000}`)
	return b.Bytes()
}
