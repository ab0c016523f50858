package body

import (
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		ct   string
		want Kind
	}{
		{"application/json", JSON},
		{"Application/JSON; charset=UTF-8", JSON},
		{"application/json;charset", JSON}, // malformed parameter tolerated
		{"text/json", JSON},
		{"application/vnd.api+json", JSON},
		{"application/merge-patch+json; charset=utf-8", JSON},
		{"application/x-www-form-urlencoded", Form},
		{"application/x-www-form-urlencoded; charset=utf-8", Form},
		{"multipart/form-data; boundary=abc", Multipart},
		{`multipart/form-data; boundary="a b"`, Multipart},
		{"multipart/form-data", Multipart}, // Parse fails: the caller rejects it
		{"multipart/mixed; boundary=abc", Other},
		{"text/plain", Other},
		{"application/jsonx", Other},
		{"text/+json", Other},
		{"", Other},
		{"garbage/", Other},
	}
	for _, tt := range tests {
		if got := KindOf(tt.ct); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

func TestParseOther(t *testing.T) {
	if _, err := Parse(Other, "text/plain", []byte("4111111111111111")); err == nil || strings.Contains(err.Error(), "4111") {
		t.Fatalf("error %v", err)
	}
}

func TestResolveOccurrence(t *testing.T) {
	names := []string{"a", "n", "b", "n", "n#1", "n"}
	at := func(i int) string { return names[i] }
	tests := map[string]int{"a": 0, "n": 1, "n#1": 4, "n#2": 5, "n#3": -1, "n#0": -1, "n#+1": -1, "n#": -1, "x": -1, "a#1": -1}
	for path, want := range tests {
		if got := resolveOccurrence(len(names), at, path); got != want {
			t.Errorf("%q: %d, want %d", path, got, want)
		}
	}
}
