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
