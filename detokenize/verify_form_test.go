package detokenize

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/body"
)

// FuzzVerifyFormAgainstOld: for any form or multipart body and any cards
// placed in it (number fields by name and occurrence, values found there or
// not, tokens left or not), Verify answers as the old map of maps did.
func FuzzVerifyFormAgainstOld(f *testing.F) {
	f.Add("card_number=4111111111111111&card_number=5555555555554444&tok=t1", false, []byte{0, 0, 0, 1, 1, 1, 2, 0, 0})
	f.Add("n=1&n=2&n=3&n=4&n=5&n=6&n=7&n=8&n=9&n=10&m=1", false, []byte{0, 9, 1, 1, 3, 0, 2, 2, 1, 3, 0, 0})
	f.Add("--XX\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n4242424242424242\r\n--XX--\r\n", true, []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, in string, multipart bool, script []byte) {
		kind, ct := body.Form, ""
		if multipart {
			kind, ct = body.Multipart, "multipart/form-data; boundary=XX"
		}
		doc, err := body.Parse(kind, ct, []byte(in))
		if err != nil {
			return
		}
		names := []string{"card_number", "n"}
		for _, kv := range strings.Split(in, "&") {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		if i := strings.Index(in, `name="`); i >= 0 {
			if j := strings.IndexByte(in[i+6:], '"'); j >= 0 {
				names = append(names, in[i+6:i+6+j])
			}
		}
		r := Result{set: "s"}
		for k := 0; k+2 < len(script) && k < 96; k += 3 {
			a, b, c := int(script[k]), int(script[k+1]), int(script[k+2])
			p := placed{tokenPath: "tok#" + strconv.Itoa(k), numberSel: names[a%len(names)]}
			p.numberPath = p.numberSel
			if b%3 > 0 {
				p.numberPath += "#" + strconv.Itoa(b%3)
			}
			p.number = "none"
			if found := doc.Find(p.numberSel); len(found) > 0 && c%4 != 3 {
				p.number = found[c%len(found)].Raw
			}
			if c%2 == 1 {
				p.tokenSel = names[b%len(names)]
				p.token = "t1"
				if found := doc.Find(p.tokenSel); len(found) > 0 && c%3 == 0 {
					p.token = found[0].Raw
				}
			}
			r.placed = append(r.placed, p)
		}
		got, want := r.Verify(kind, ct, []byte(in)), r.verifyOld(kind, ct, []byte(in))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q %+v:\n got %v\nwant %v", in, r.placed, got, want)
		}
	})
}
