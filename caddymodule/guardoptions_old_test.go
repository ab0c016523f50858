package caddymodule

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
)

// oldRequest is guardOptions' Request as it was at 5dd9497: both bodies
// and the query whole, and each one's whole decoded copy.
func oldRequest(merchant, sent []byte, r *http.Request) [][]byte {
	req := [][]byte{merchant, sent, []byte(r.URL.RawQuery)}
	for _, raw := range req[:3] {
		if d, ok := queryUnescape(nil, raw); ok {
			req = append(req, d)
		}
	}
	for _, values := range r.Header {
		for _, v := range values {
			req = append(req, []byte(v))
		}
	}
	return req
}

// guardOptions' Request finds what the old whole copies found, with a
// cryptogram of a real length (20 bytes) and a 4-digit CVV, JSON answers
// included.
func FuzzGuardOptionsAgainstOld(f *testing.F) {
	const crypt = "AgAAAAAAAIR8CQrXcIhbQAAAAAA="
	for _, s := range [][3]string{
		{`{"n":"tok_1","c":"x"}`, `{"n":"4111111111111111","c":"` + crypt + `"}`, "a=b"},
		{`{"p":"+33 6 12","x":"AgAAAAAAAIR8CQrXcIhb%2BAAAAAA%3D"}`, `{"p":"+33 6 12","x":"1234"}`, "q=1.234e3"},
		{"a=1%2C2&b=AgAAAAAAAIR8CQrXcIhbQAAAAAA%3D", "a=1%2C2&b=4111111111111111", "c=%5Cu0031234"},
		{`{"v":"12\u003334","w":"0x"}`, `{"v":"1234","w":"1234.0"}`, ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	secrets := []responseguard.Secret{{Value: crypt, With: responseguard.Mask}, {Value: "1234", With: responseguard.Mask, Whole: true}}
	set := &rules.Outbound{Name: "psp"}
	f.Fuzz(func(t *testing.T, merchant, sent, query string) {
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{"X-A": {"v"}}}
		var sc guardScratch
		o := guardOptions(&sc, set, secrets, []byte(merchant), []byte(sent), r)
		old := responseguard.Options{Secrets: secrets, Request: oldRequest([]byte(merchant), []byte(sent), r)}
		resp := merchant + "\n" + sent + "\n" + query
		for _, x := range oldRequest([]byte(merchant), []byte(sent), r)[3:] {
			resp += "\n" + string(x)
		}
		gNew, gOld := responseguard.NewGuard(o), responseguard.NewGuard(old)
		for _, json := range []bool{false, true} {
			gn, go_ := gNew, gOld
			if json {
				gn, go_ = gNew.ForJSON(), gOld.ForJSON()
			}
			got, n1 := gn.Bytes([]byte(resp))
			want, n2 := go_.Bytes([]byte(resp))
			if string(got) != string(want) || n1 != n2 {
				t.Fatalf("merchant %q sent %q query %q (json %v): new %q (%d), old %q (%d)", merchant, sent, query, json, got, n1, want, n2)
			}
		}
	})
}
