package body

import "testing"

func TestSafePath(t *testing.T) {
	for in, want := range map[string]string{
		"card.number":                 "card.number",
		"items.12.name":               "items.12.name",
		"data.4111111111111111":       "data.XXXXXXXXXXXXXXXX",
		"4111111111111111":            "XXXXXXXXXXXXXXXX",
		"a.411111111111.b.1234567890": "a.XXXXXXXXXXXX.b.1234567890",
		"query:5555555555554444":      "query:XXXXXXXXXXXXXXXX",
		// Spaced and dashed card numbers, as names (issue 15, item 11).
		"4111 1111 1111 1111":         "XXXX XXXX XXXX XXXX",
		"a.4111-1111-1111-1111.b":     "a.XXXX-XXXX-XXXX-XXXX.b",
		"form:5555 5555 5555 4444, x": "form:XXXX XXXX XXXX XXXX, x",
		"3782 822463 10005":           "XXXX XXXXXX XXXXX",
		"order 1234 5678 9012 3457":   "order 1234 5678 9012 3457", // no window of whole groups is a card number
		"items.1.2.3":                 "items.1.2.3",
	} {
		if got := SafePath(in); got != want {
			t.Errorf("SafePath(%q) = %q, want %q", in, got, want)
		}
	}
}
