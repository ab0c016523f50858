package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// TestInboundNoUnexaminedBody: on a route whose rule set matches, no body
// reaches the merchant without being read, whatever its Content-Type, and
// duplicate JSON keys cannot smuggle a second card past the rules.
func TestInboundNoUnexaminedBody(t *testing.T) {
	g := startGateway(t, "")
	const second = "4916338506082832"
	tests := []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"duplicate number and cvc", jsonCT, `{"card":{"number":"4111111111111111","cvc":"123","number":"` + second + `","cvc":"456"}}`, 400, "card.number"},
		{"duplicated parent", jsonCT, `{"card":{"number":"4111111111111111"},"card":{"number":"5555555555554444"}}`, 400, "card"},
		{"escaped duplicate", jsonCT, `{"card":{"number":"4111111111111111","num\u0062er":"` + second + `"}}`, 400, "card.number"},
		{"text/plain JSON", "text/plain;charset=UTF-8", checkoutJSON(visaPAN), 200, ""},
		{"no content type", "", checkoutJSON(visaPAN), 200, ""},
		{"octet-stream", "application/octet-stream", checkoutJSON(visaPAN), 200, ""},
		{"JSON labelled as a form", formCT, checkoutJSON(visaPAN), 200, ""},
		{"form as text/plain", "text/plain", "card_number=4111111111111111&card_cvc=123", 200, ""},
		{"neither", "application/octet-stream", "\x00\x01%zz binary", 415, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, inboundURL+"/checkout", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			r := g.do(req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			for _, secret := range []string{visaPAN, second, "5555555555554444", `"123"`, `"456"`, "card_cvc=123"} {
				if strings.Contains(r.body, secret) {
					t.Errorf("the merchant (or the error) got card data: %s", r.body)
				}
			}
			if tc.field != "" && str(decode(t, r.body), "error_info.fields.0.field_name") != tc.field {
				t.Errorf("error names %s, want %s", r.body, tc.field)
			}
			if tc.status == 200 && !strings.Contains(r.body, "tok_") {
				t.Errorf("no token in %s", r.body)
			}
		})
	}
}

// TestPANGuardThroughCaddy: card numbers the rules do not name, in the body
// or the query string, under names the merchant's framework reads but the
// rules do not spell, are refused, tokenized or logged per pan_guard.
func TestPANGuardThroughCaddy(t *testing.T) {
	g := startGateway(t, "")
	const stray = "5555555555554444"
	refused := []struct{ name, url, ct, body, field string }{
		{"query string", inboundURL + "/checkout?ref=" + stray, jsonCT, checkoutJSON(visaPAN), "query:ref"},
		{"rule form field in the query", inboundURL + "/checkout?card_number=" + stray, jsonCT, `{}`, ""},
		{"card_number[]", inboundURL + "/checkout", formCT, "card_number%5B%5D=" + stray, "card_number[]"},
		{"NUMBER", inboundURL + "/checkout", jsonCT, `{"card":{"NUMBER":"` + stray + `"}}`, "card.NUMBER"},
		{"spaced in a note", inboundURL + "/checkout", jsonCT, `{"note":"5555 5555 5555 4444"}`, "note"},
		{"as a JSON number", inboundURL + "/checkout", jsonCT, `{"n":` + stray + `}`, "n"},
		{"escaped", inboundURL + "/checkout", jsonCT, `{"n":"\u0035555555555554444"}`, "n"},
		{"multipart file", inboundURL + "/checkout", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.csv\"\r\n\r\nname,card\r\nada," + stray + "\r\n--XX--\r\n", "f"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := g.post(tc.url, tc.ct, tc.body)
			if tc.field == "" { // the query's card_number is a rule field: tokenized
				if r.status != 200 || strings.Contains(r.body, stray) {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			if r.status != 400 || str(decode(t, r.body), "error_code") != "pan_detected" || str(decode(t, r.body), "error_info.fields.0.field_name") != tc.field {
				t.Fatalf("%d %s, want 400 pan_detected at %s", r.status, r.body, tc.field)
			}
			if strings.Contains(r.body, stray) || strings.Contains(r.body, "5555 5555") {
				t.Error("the error echoes the number")
			}
		})
	}

	r := g.post(inboundURL+"/lenient?ref="+stray, jsonCT, `{"card":{"number":"4111111111111111"},"note":"card `+stray+`"}`)
	if r.status != 200 || strings.Contains(r.body, stray) || !strings.HasPrefix(str(decode(t, r.body), "note"), "card tok_") {
		t.Errorf("pan_guard tokenize: %d %s", r.status, r.body)
	}
	r = g.post(inboundURL+"/logging", jsonCT, `{"card":{"number":"4111111111111111"},"note":"`+stray+`"}`)
	if r.status != 200 || !strings.Contains(r.body, stray) || !strings.Contains(g.log(), `"paths":"note"`) {
		t.Errorf("pan_guard log: %d %s", r.status, r.body)
	}
	if strings.Contains(g.log(), stray) {
		t.Error("the log holds the number")
	}
}

// TestCorruptGzipIs400: a gzip body that does not decode is bad input (400);
// an encoding the gateway cannot decode at all is 415.
func TestCorruptGzipIs400(t *testing.T) {
	g := startGateway(t, "")
	if r := g.post(inboundURL+"/checkout", jsonCT, "not gzip at all", "Content-Encoding", "gzip"); r.status != http.StatusBadRequest || str(decode(t, r.body), "error_code") != "malformed_encoding" {
		t.Errorf("corrupt gzip: %d %s", r.status, r.body)
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN), "Content-Encoding", "br"); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("br: %d", r.status)
	}
}

// A member name that is a card number is never echoed: not in the
// duplicate_key answer, not in the PAN guard's, not in the log.
func TestCardNumberNamesNotEchoed(t *testing.T) {
	g := startGateway(t, "")
	for _, body := range []string{
		`{"card":{"number":"4242424242424242"},"4111111111111111":1,"4111111111111111":2}`,
		`{"card":{"number":"4242424242424242"},"x":{"4111111111111111":"y"}}`,
	} {
		r := g.post(inboundURL+"/checkout", jsonCT, body)
		if r.status != http.StatusBadRequest || strings.Contains(r.body, "4111111111111111") {
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	if strings.Contains(g.log(), "4111111111111111") {
		t.Error("the log holds the card number")
	}
}
