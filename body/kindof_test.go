package body

import (
	"errors"
	"mime"
	"strings"
	"testing"
)

// kindOfParsed is KindOf without its fast path: what ParseMediaType reads.
func kindOfParsed(contentType string) Kind {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return Other
	}
	switch {
	case mt == "application/json", mt == "text/json":
		return JSON
	case strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return JSON
	case mt == "application/x-www-form-urlencoded":
		return Form
	case mt == "multipart/form-data":
		return Multipart
	}
	return Other
}

// KindOf's fast path reads a Content-Type as ParseMediaType does.
func FuzzKindOf(f *testing.F) {
	for _, s := range []string{"application/json", " Application/JSON ", "application/j\u017fon", "application/x-www-form-urlencoded",
		"application/json\u00a0", "APPLICATION/X-WWW-FORM-URLENCODED", "text/json", "application/json; charset=utf-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := KindOf(s), kindOfParsed(s); got != want {
			t.Fatalf("KindOf(%q) = %v, ParseMediaType reads %v", s, got, want)
		}
	})
}
