package caddymodule

import (
	"mime"
	"net/url"
	"strings"
	"testing"
)

// queryUnescape appends what url.QueryUnescape makes of s exactly when it
// makes something else of it without an error, as guardOptions did.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range []string{"", "a", "a+b", "%41", "%4", "%", "%zz", "a%2Bb%2fc", "+33 6 12", "%%41", "x%4", `{"a":"b+c%2"}`, "é%C3%A9+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := queryUnescape([]byte("prefix"), []byte(s))
		q, err := url.QueryUnescape(s)
		want := err == nil && q != s
		if ok != want || ok && string(got) != "prefix"+q || !ok && string(got) != "prefix" {
			t.Fatalf("queryUnescape(%q) = %q, %v; QueryUnescape: %q, %v", s, got, ok, q, err)
		}
	})
}

// mayBeMultipart never says no to a Content-Type ParseMediaType reads as
// multipart.
func FuzzMayBeMultipart(f *testing.F) {
	for _, s := range []string{"", "application/json", "multipart/form-data; boundary=x", " MultiPart/mixed", "\tmultipart/", "multipart", "\u00a0multipart/x", "text/plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, _, _ := mime.ParseMediaType(s)
		if strings.HasPrefix(mt, "multipart/") && !mayBeMultipart(s) {
			t.Fatalf("mayBeMultipart(%q) = false; ParseMediaType reads %q", s, mt)
		}
	})
}
