package caddymodule

import (
	"mime"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/responseguard"
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

// The response guard built from the stretches unescapedChanges keeps masks
// what the guard built from the whole decoded text masks: a cryptogram
// secret of 3 bytes (so that the merchant's many 4-character tokens are
// decoded) and a 3-digit CVV (so that its 3-digit numbers count).
func FuzzUnescapedChanges(f *testing.F) {
	for _, s := range []string{"", "a+b", `{"phone":"+33 6 12","x":"q5n/AbC%2BdEf"}`, "c=AAAA%2B&d=12%33", `{"a":"b%22c+1.23e2"}`,
		"x=%5Cu0041BCD+&#52;56", `{"v":"abc\\"+Zm9v"}`, "a%2Fb%3D%3D+c", "1e+0123,AB+CD:EF%2bGH", `{"x":"ABCD+EF"}`, "q=EF+ABCD%2F&r=1"} {
		f.Add(s)
	}
	secrets := []responseguard.Secret{{Value: "AAAA", With: responseguard.Mask}, {Value: "123", With: responseguard.Mask, Whole: true}}
	f.Fuzz(func(t *testing.T, s string) {
		full, ok := queryUnescape(nil, []byte(s))
		buf, ends := unescapedChanges(nil, nil, []byte(s))
		if !ok && len(ends) > 0 {
			t.Fatalf("unescapedChanges(%q) found changes QueryUnescape does not make", s)
		}
		whole := [][]byte{[]byte(s)}
		if ok {
			whole = append(whole, full)
		}
		parts := [][]byte{[]byte(s)}
		from := 0
		for _, e := range ends {
			parts = append(parts, buf[from:e])
			from = e
		}
		resp := s + "\n" + string(full)
		want, wn := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: whole}).String(resp)
		got, gn := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: parts}).String(resp)
		if got != want || gn != wn {
			t.Fatalf("request %q: the guard of its decoded stretches masks %q (%d), of all of it %q (%d)", s, got, gn, want, wn)
		}
	})
}

// The response guard built from the merchant's body and changedStretch of
// the body sent masks what the guard built from both bodies whole masks
// (secrets as in FuzzUnescapedChanges).
func FuzzChangedStretch(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"a", "a"}, {"AB,CD", "ABCD"}, {`{"n":"tok_1","x":"AB"}`, `{"n":"4111111111111111","c":"AAAA","x":"AB"}`},
		{`{"y":"12","z":1}`, `{"y":"123","z":1}`}, {`{"a":"ABCDEF"}`, `{"a":"ABCD"}`}, {`{"p":"x","q":"BCD"}`, `{"p":"A","q":"BCD"}`}, {`1.2,3e2`, `1.23e2`}} {
		f.Add(s[0], s[1])
	}
	secrets := []responseguard.Secret{{Value: "AAAA", With: responseguard.Mask}, {Value: "123", With: responseguard.Mask, Whole: true}}
	f.Fuzz(func(t *testing.T, merchant, sent string) {
		resp := merchant + "\n" + sent
		whole := [][]byte{[]byte(merchant), []byte(sent)}
		part := [][]byte{[]byte(merchant), changedStretch([]byte(merchant), []byte(sent))}
		want, wn := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: whole}).String(resp)
		got, gn := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: part}).String(resp)
		if got != want || gn != wn {
			t.Fatalf("merchant %q, sent %q (stretch %q): masks %q (%d), with the whole body sent %q (%d)", merchant, sent, part[1], got, gn, want, wn)
		}
	})
}
