package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// TestDetokenizeReleasedDocsNoCrossTalk alternates two merchants' cards,
// in bodies of different shapes, through the detokenize handler, which
// releases each request's parsed body to the pool (its arena, added
// members and maps reused by the next): every processor body must hold its
// own card's network token and a cryptogram never seen before, and nothing
// of the other card's, whatever the previous request left in the pool.
func TestDetokenizeReleasedDocsNoCrossTalk(t *testing.T) {
	g := startGateway(t, "")
	tokenOf := func(pan string) (token, body string) {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
		if in.status != http.StatusOK {
			t.Fatalf("tokenize: %d %s", in.status, in.body)
		}
		return str(decode(t, in.body), "card.number"), in.body
	}
	tokA, bodyA := tokenOf(visaPAN)
	tokB, _ := tokenOf("5555555555554444")
	// B's body: another shape, the card's members in another order and
	// fewer of them, so its doc's added members land elsewhere.
	bodyB := `{"card":{"exp_year":"2030","number":"` + tokB + `","exp_month":"03"},"amount":{"value":1}}`

	dpans := map[string]string{}  // card -> its network token
	crypts := map[string]string{} // cryptogram -> the card it was sent for
	for i := 0; i < 16; i++ {
		name, body, other := "A", bodyA, "B"
		if i%2 == 1 {
			name, body, other = "B", bodyB, "A"
		}
		out := g.post(outboundURL+"/payments", jsonCT, body, "X-Tokengate-Api-Key", apiKeyA)
		if out.status != http.StatusOK {
			t.Fatalf("request %d (%s): %d %s", i, name, out.status, out.body)
		}
		psp := decode(t, out.body)
		dpan, crypt := str(psp, "card.number"), str(psp, "card.cryptogram")
		if dpan == "" || crypt == "" || strings.Contains(out.body, tokA) || strings.Contains(out.body, tokB) {
			t.Fatalf("request %d (%s): not detokenized: %s", i, name, out.body)
		}
		if prev, ok := dpans[name]; ok && prev != dpan {
			t.Fatalf("request %d (%s): network token changed", i, name)
		}
		dpans[name] = dpan
		if o, ok := dpans[other]; ok && (o == dpan || strings.Contains(out.body, o)) {
			t.Fatalf("request %d (%s): the body holds card %s's network token", i, name, other)
		}
		for c, whose := range crypts {
			if strings.Contains(out.body, c) {
				t.Fatalf("request %d (%s): the body holds a cryptogram sent before for card %s", i, name, whose)
			}
		}
		crypts[crypt] = name
		if n := strings.Count(out.body, `"cryptogram"`); n != 1 {
			t.Fatalf("request %d (%s): %d cryptogram members: %s", i, name, n, out.body)
		}
	}
}
