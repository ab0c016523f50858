package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The inbound paths rawbody_test.go does not take, on recycled read
// buffers poisoned once released: a CVV dropped under cvv_store_down drop
// (its path in a header the merchant's site reads after the proxy ran, and
// in a log line), strays the PAN guard tokenizes or logs (form names with
// escapes, JSON paths), and a bulk body (cardInput.drop). Whatever still read a released
// buffer would show its 0xFF bytes in the answer, a header or the log.

// noPoison fails if s holds a byte of a poisoned buffer (raw, or as the
// log's JSON encoder writes invalid UTF-8).
func noPoison(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, "\xff") || strings.ContainsRune(s, 0xFFFD) || strings.Contains(s, `\ufffd`) {
		t.Fatalf("%s read a released buffer: %q", what, s)
	}
}

func TestRawBodyReleasedCVVDroppedHeaderAndLog(t *testing.T) {
	released := poisonReleasedBodies(t)
	g := (&gateway{t: t}).start("cvv_store memory {\n\t\t\tmax_held 1\n\t\t}", defaultSites)
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(newPAN(9300))); r.status != http.StatusOK {
		t.Fatalf("filling the CVV store: %d %s", r.status, r.body)
	}
	for i := range 3 {
		pan := newPAN(9301 + i)
		form := url.Values{"card_number": {pan}, "card_cvc": {testCVV}, "order": {"o-" + fmt.Sprint(i)}}.Encode()
		r := g.post(inboundURL+"/degraded/checkout", formCT, form)
		if r.status != http.StatusOK {
			t.Fatalf("degraded form checkout: %d %s", r.status, r.body)
		}
		noPoison(t, "the forwarded body", r.body)
		if h := r.header.Get("Merchant-Saw-Cvv-Not-Held"); h != "card_cvc" {
			t.Fatalf("the merchant saw Tokengate-Cvv-Not-Held %q, want card_cvc", h)
		}
		v, _ := url.ParseQuery(r.body)
		if v.Get("order") != "o-"+fmt.Sprint(i) || v.Has("card_cvc") || !strings.HasPrefix(v.Get("card_number"), "tok_") {
			t.Fatalf("the merchant got %q", r.body)
		}
		r = g.post(inboundURL+"/degraded/checkout", jsonCT, checkoutJSON(pan))
		if r.status != http.StatusOK || r.header.Get("Merchant-Saw-Cvv-Not-Held") != "card.cvc" {
			t.Fatalf("degraded JSON checkout: %d %q %s", r.status, r.header.Get("Merchant-Saw-Cvv-Not-Held"), r.body)
		}
		noPoison(t, "the forwarded body", r.body)
	}
	noPoison(t, "the log", g.log())
	if released.Load() < 6 {
		t.Fatalf("%d read buffers recycled", released.Load())
	}
}

func TestRawBodyReleasedStraysAndBulk(t *testing.T) {
	released := poisonReleasedBodies(t)
	g := startGateway(t, "")
	// pan_guard tokenize: strays in a form field whose name has escapes
	// (decoded into an array of their own) and in a JSON member.
	pan, stray := newPAN(9400), newPAN(9401)
	r := g.post(inboundURL+"/lenient", formCT, "card_number="+pan+"&memo%5B0%5D=card+"+stray+"+thanks&order=o-1")
	if r.status != http.StatusOK {
		t.Fatalf("lenient form: %d %s", r.status, r.body)
	}
	noPoison(t, "the forwarded body", r.body)
	v, _ := url.ParseQuery(r.body)
	if strings.Contains(r.body, pan) || strings.Contains(r.body, stray) || !strings.HasPrefix(v.Get("memo[0]"), "card tok_") || v.Get("order") != "o-1" {
		t.Fatalf("lenient form: the merchant got %q", r.body)
	}
	r = g.post(inboundURL+"/lenient", jsonCT, `{"card":{"number":"`+pan+`"},"notes":{"free text":"use `+stray+`"}}`)
	if r.status != http.StatusOK || strings.Contains(r.body, stray) || !strings.Contains(r.body, `"use tok_`) {
		t.Fatalf("lenient JSON: %d %s", r.status, r.body)
	}
	noPoison(t, "the forwarded body", r.body)
	// A multipart checkout, its stray in a part with a quoted name.
	mp := "--XX\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + pan +
		"\r\n--XX\r\nContent-Disposition: form-data; name=\"memo \\\"x\\\"\"\r\n\r\nuse " + stray + "\r\n--XX--\r\n"
	r = g.post(inboundURL+"/lenient", "multipart/form-data; boundary=XX", mp)
	if r.status != http.StatusOK || strings.Contains(r.body, pan) || strings.Contains(r.body, stray) || strings.Count(r.body, "tok_") != 2 {
		t.Fatalf("lenient multipart: %d %s", r.status, r.body)
	}
	noPoison(t, "the forwarded body", r.body)
	// pan_guard log: the stray stays, its path is logged.
	r = g.post(inboundURL+"/logging", formCT, "card_number="+pan+"&notes%5Bx%5D="+stray)
	if r.status != http.StatusOK {
		t.Fatalf("logging form: %d %s", r.status, r.body)
	}
	noPoison(t, "the forwarded body", r.body)

	// A bulk body of many cards (the rule set's max_cards), twice: the repeat gets the
	// same tokens back, each CVV masked.
	var b strings.Builder
	b.WriteString(`{"cards":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"number":"%s","cvc":"%s","ref":"r%d"}`, newPAN(9500+i), testCVV, i)
	}
	b.WriteString(`]}`)
	if b.Len() > rawBodySize {
		t.Fatalf("the bulk body (%d bytes) does not fit a recycled buffer", b.Len())
	}
	var first string
	for n := range 2 {
		r := g.post(inboundURL+"/bulk", jsonCT, b.String())
		if r.status != http.StatusOK {
			t.Fatalf("bulk %d: %d %s", n, r.status, r.body)
		}
		noPoison(t, "the forwarded bulk body", r.body)
		doc := decode(t, r.body)
		cards, _ := doc["cards"].([]any)
		if len(cards) != 50 {
			t.Fatalf("bulk %d: %s", n, r.body)
		}
		var toks []string
		for i, c := range cards {
			m := c.(map[string]any)
			if m["cvc"] != "***" || m["ref"] != fmt.Sprintf("r%d", i) || m["number"] == newPAN(9500+i) {
				t.Fatalf("bulk %d card %d: %v", n, i, m)
			}
			toks = append(toks, fmt.Sprint(m["number"]))
		}
		if n == 0 {
			first = strings.Join(toks, ",")
		} else if strings.Join(toks, ",") != first {
			t.Fatal("the repeated bulk body got other tokens")
		}
	}
	noPoison(t, "the log", g.log())
	if released.Load() < 5 {
		t.Fatalf("%d read buffers recycled", released.Load())
	}
}

// TestRawBodyReleasedCVVsHeldIntact holds CVVs read from recycled,
// poisoned buffers in the memory store and in Redis (whose batcher sends
// them from another goroutine), then pays each token: every payment gets
// its own customer's CVV, whole. (Sent without an expiry, the cards get no
// network token, so they are paid by PAN, with the CVV.)
func TestRawBodyReleasedCVVsHeldIntact(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			released := poisonReleasedBodies(t)
			g := &gateway{t: t}
			if store == "redis" {
				if !redisReachable() {
					t.Skip("no Redis on 127.0.0.1:6379")
				}
				g.dir = t.TempDir()
				g.vault = "vault bolt " + g.dir + "/v.db\n\t\tcvv_store redis {\n\t\t\taddress 127.0.0.1:6379\n\t\t\tprefix " + strings.ReplaceAll(t.Name(), "/", "_") + ":\n\t\t}"
				startGatewayWith(t, g)
			} else {
				g = startGateway(t, "")
			}
			cvvs := []string{"123", "456", "789", "321"}
			tokens := make([]string, len(cvvs))
			for i, cvv := range cvvs {
				body := `{"card":{"number":"` + newPAN(9600+i) + `","cvc":"` + cvv + `","name":"Customer ` + fmt.Sprint(i) + `"}}`
				r := g.post(inboundURL+"/checkout", jsonCT, body)
				if r.status != http.StatusOK {
					t.Fatalf("checkout %d: %d %s", i, r.status, r.body)
				}
				noPoison(t, "the forwarded body", r.body)
				tokens[i] = r.body
			}
			for i, cvv := range cvvs {
				paid := g.post(outboundURL+"/payments", jsonCT, tokens[i], "X-Tokengate-Api-Key", apiKeyA)
				noPoison(t, "the payment", paid.body)
				if doc := decode(t, paid.body); paid.status != http.StatusOK || str(doc, "card.cvc") != cvv || str(doc, "card.number") != newPAN(9600+i) || str(doc, "card.name") != "Customer "+fmt.Sprint(i) {
					t.Fatalf("paying customer %d: %d %s", i, paid.status, paid.body)
				}
			}
			if released.Load() < int64(len(cvvs)) {
				t.Fatalf("%d read buffers recycled", released.Load())
			}
		})
	}
}
