package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

// TestCardNumberAsFieldNameIsMasked: a spaced card number used as a member
// or field name (issue 15, item 11) is masked in the error answer and in
// every log line that names the field, at each pan_guard policy.
func TestCardNumberAsFieldNameIsMasked(t *testing.T) {
	g := startGateway(t, "")
	spaced := "4111 1111 1111 1111"
	bodies := []struct{ name, ct, body string }{
		{"json", jsonCT, `{"` + spaced + `":1}`},
		{"form", formCT, "4111+1111+1111+1111=1"},
		{"json dashed, nested", jsonCT, `{"notes":{"4111-1111-1111-1111":true}}`},
	}
	for _, route := range []string{"/checkout", "/lenient", "/logging"} {
		for _, b := range bodies {
			t.Run(route+" "+b.name, func(t *testing.T) {
				before := len(g.log())
				r := g.post(inboundURL+route, b.ct, b.body)
				logged := g.log()[before:]
				if route == "/checkout" {
					// reject: the answer names the field, masked.
					if r.status != http.StatusBadRequest || !strings.Contains(r.body, "XXXX") {
						t.Fatalf("%d %s", r.status, r.body)
					}
					leaks(t, "the error answer", r.body)
				}
				leaks(t, "the log", logged)
				if !strings.Contains(logged, "XXXX") {
					t.Errorf("no log line names the field masked; the test proves nothing:\n%s", logged)
				}
			})
		}
	}
}

// leaks fails when text holds the test card's number in any spelling the
// tests above send.
func leaks(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{"4111 1111 1111 1111", "4111-1111-1111-1111", "4111+1111+1111+1111", "4111111111111111", `4111\u00201111`} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q", where, s)
		}
	}
}
