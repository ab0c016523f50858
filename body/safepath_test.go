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
	} {
		if got := SafePath(in); got != want {
			t.Errorf("SafePath(%q) = %q, want %q", in, got, want)
		}
	}
}
