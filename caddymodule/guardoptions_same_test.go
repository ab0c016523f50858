package caddymodule

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
)

// guardOptions, which decodes of the body sent only changedStretch's
// stretches (and none of it when the merchant's body has a malformed
// escape), builds the very guard (every merchant-carried cryptogram and
// CVV-length number alike) that the whole bodies and their whole decoded
// copies (oldRequest) build: for a short cryptogram and a 3-digit CVV, so
// that the merchant's many 4-character tokens and 3-digit numbers count,
// and for a real one.
func FuzzGuardOptionsSameGuard(f *testing.F) {
	for _, s := range [][3]string{
		{`{"n":"tok_1","c":"x"}`, `{"n":"4111111111111111","c":"AAAA"}`, "a=b"},
		{"a=1%2C2&b=QUFB%3D&c=tok", "a=1%2C2&b=QUFB%3D&c=123", "c=%5Cu0031234"},
		{"a=%zz+AAAA&b=tok", "a=%zz+AAAA&b=QUFB", "q=1.23e2"},
		{"a=QUFB+x&b=tok", "a=QUFB+x&b=%2B%2B%2B%2B", ""},
		{`{"p":"+33 6 12","x":"Zm9v%2B"}`, `{"p":"+33 6 12","x":"Zm9v%2B","y":"987"}`, ""},
		// A malformed escape the detokenizer replaced: the body sent
		// decodes, the merchant's does not, and the merchant-carried
		// %61bcd, abcd decoded (hex of two bytes, the cryptogram's
		// length), lies outside the changed stretch.
		{`{"a":"%zz","b":"%61bcd"}`, `{"a":"123","b":"%61bcd"}`, ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	sets := [][]responseguard.Secret{
		{{Value: "AAAA", With: responseguard.Mask}, {Value: "123", With: responseguard.Mask, Whole: true}},
		{{Value: "AgAAAAAAAIR8CQrXcIhbQAAAAAA=", With: responseguard.Mask}, {Value: "1234", With: responseguard.Mask, Whole: true}},
	}
	set := &rules.Outbound{Name: "psp"}
	f.Fuzz(func(t *testing.T, merchant, sent, query string) {
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{"X-A": {"v"}}}
		for _, secrets := range sets {
			var sc guardScratch
			gNew := responseguard.NewGuard(guardOptions(&sc, set, secrets, []byte(merchant), []byte(sent), r))
			gOld := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: oldRequest([]byte(merchant), []byte(sent), r)})
			if !reflect.DeepEqual(gNew, gOld) {
				t.Fatalf("merchant %q sent %q query %q: the guard differs from the one of the whole bodies", merchant, sent, query)
			}
		}
	})
}
