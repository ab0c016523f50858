package panguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHasNumberSpellings(t *testing.T) {
	for _, s := range []string{
		"4111111111111111",
		"my card 4111 1111 1111 1111 123 exp 03/30",
		"4111-1111-1111-1111-0330",
		"4111.1111.1111.1111", "4111/1111/1111/1111", "4111  1111  1111  1111",
		"4111\u00a01111\u00a01111\u00a01111", "4111\n1111\n1111\n1111",
		"4.111111111111111e15", "4111111111111111.0", " 4.111111111111111E+15 ", "4.2e15",
		"%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31",
		"%2534111111111111111",
		"4111+1111+1111+1111",
		`\u0034111111111111111`,
		"&#52;111111111111111", "&#x34;111111111111111",
		"4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x00",
	} {
		if !HasNumber(s) {
			t.Errorf("%q: not found", s)
		}
	}
	for _, s := range []string{
		"", "hello", "41111111111111111111", "4111111111111112", "1.7e15", "order 12345678901234",
		"nan", "0x1p52",
	} {
		if HasNumber(s) {
			t.Errorf("%q: found", s)
		}
	}
}

func TestNumberAsParsersRead(t *testing.T) {
	for in, want := range map[string]string{
		"4.111111111111111e15": "4111111111111111",
		"4111111111111111.0":   "4111111111111111",
		"41111111111111110e-1": "4111111111111111",
		"4.2e15":               "4200000000000000",
		"4111111111111111700":  "", // checked below: a 19-digit integer a float64 rounds
	} {
		if want == "" {
			continue
		}
		if got, ok := Number(in); !ok || got != want {
			t.Errorf("Number(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"4.1111111111111115e15", "-4.111111111111111e15", "1e300", "4111"} {
		if got, ok := Number(in); ok {
			t.Errorf("Number(%q) = %q", in, got)
		}
	}
}

// An integer literal beyond 2^53 is read by a float64 parser as another
// integer, which may be a card number although the literal is not.
func TestHasNumberRoundedInteger(t *testing.T) {
	if !HasNumber("4111111111111111700") {
		t.Error("4111111111111111700: its float64 reading is not checked")
	}
}

func TestRequestPlaces(t *testing.T) {
	req := func(target string, set func(r *http.Request)) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		if set != nil {
			set(r)
		}
		return r
	}
	for _, tc := range []struct {
		r    *http.Request
		want string
	}{
		{req("/checkout/4111111111111111", nil), "path"},
		{req("/checkout/%34111111111111111", nil), "path"},
		{req("/checkout;jsessionid=4111111111111111", nil), "path"},
		{req("/2024/4111111111111111", nil), "path"},
		{req("/x", func(r *http.Request) { r.Header.Set("X-Card-Number", "4111 1111 1111 1111") }), "header:X-Card-Number"},
		{req("/x", func(r *http.Request) { r.Header.Set("Cookie", "a=b; cc=4111111111111111") }), "cookie:cc"},
		{req("/x", func(r *http.Request) { r.Header.Set("Cookie", "cc=%34111111111111111") }), "cookie:cc"},
		{req("/x", func(r *http.Request) { r.Header["4111111111111111"] = []string{"1"} }), "header:XXXXXXXXXXXXXXXX"},
	} {
		got, ok := Outside(tc.r, nil)
		if !ok || got != tc.want {
			t.Errorf("%s %v: %q %v, want %q", tc.r.URL, tc.r.Header, got, ok, tc.want)
		}
	}
	if p, ok := Outside(req("/checkout/12345?x=1", func(r *http.Request) { r.Header.Set("User-Agent", "curl/8.5.0") }), nil); ok {
		t.Errorf("clean request: %q", p)
	}
	for q, want := range map[string]string{
		"note=4111+1111+1111+1111+123":              "query:note",
		"card_number=4111111111111111&card_cvc=123": "query:card_number",
		"a=1;n=4111111111111111":                    "query:n",
		"4111111111111111=1":                        "query:XXXXXXXXXXXXXXXX",
	} {
		if got, ok := Query(q); !ok || got != want {
			t.Errorf("Query(%q) = %q, want %q", q, got, want)
		}
	}
	r := req("/x", nil)
	r.Trailer = http.Header{"X-Card": {"4111111111111111"}}
	if got, ok := Trailers(r); !ok || got != "trailer:X-Card" {
		t.Errorf("trailers: %q", got)
	}
}

func TestBodyPlaces(t *testing.T) {
	for _, tc := range []struct{ ct, body, want string }{
		{"application/json", `{"note":"my card 4111 1111 1111 1111 123 exp 03/30"}`, "note"},
		{"application/json", `{"n":4.111111111111111e15}`, "n"},
		{"application/json", `{"n":4.2e15}`, "n"},
		{"application/json", `{"n":"\u0034111111111111111"}`, "n"},
		{"application/json", `{"a":1,"a":"4111111111111111"}`, "body"},
		{"", "card_number=4111111111111111&card_cvc=123", "card_number"},
		{"text/plain", "hello 4111 1111 1111 1111", "body"},
		{"application/octet-stream", "4\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x001\x00", "body"},
	} {
		if got, ok := Body(tc.ct, []byte(tc.body)); !ok || got != tc.want {
			t.Errorf("Body(%q, %q) = %q %v, want %q", tc.ct, tc.body, got, ok, tc.want)
		}
	}
	if got, ok := Body("application/json", []byte(`{"amount":1000,"id":"ord_123"}`)); ok {
		t.Errorf("clean body: %q", got)
	}
}

// BenchmarkOutsideBrowserRequest is the guard's cost on a typical browser
// request: path, a dozen headers, cookies and a query string.
func BenchmarkOutsideBrowserRequest(b *testing.B) {
	r := httptest.NewRequest(http.MethodPost, "/checkout?utm_source=newsletter&utm_campaign=2026-12&ref=abc123", nil)
	for k, v := range map[string]string{
		"User-Agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept":          "application/json, text/plain, */*",
		"Accept-Language": "en-US,en;q=0.9",
		"Accept-Encoding": "gzip, deflate, br, zstd",
		"Content-Type":    "application/json",
		"Origin":          "https://shop.example.com",
		"Referer":         "https://shop.example.com/cart?step=3",
		"Cookie":          "_ga=GA1.1.1234567890.1700000000; session=eyJhbGciOiJIUzI1NiJ9.abc.def; _fbp=fb.1.1700000000000.1234567890",
		"X-Request-Id":    "5f0c2a9e-8d4b-4b7a-9a51-2f6f3c1d7e90",
		"Sec-Fetch-Mode":  "cors",
	} {
		r.Header.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found := Outside(r, nil); found {
			b.Fatal("found a card number in a clean request")
		}
		if _, found := Query(r.URL.RawQuery); found {
			b.Fatal("found a card number in a clean query")
		}
	}
}

// TestHasNumberUnicodeDigits: decimal digits of other scripts are read as
// the merchant's int() or parseLong reads them; other text with non-ASCII
// characters and too few digits is not a card.
func TestHasNumberUnicodeDigits(t *testing.T) {
	for _, s := range []string{
		"４１１１１１１１１１１１１１１１",
		"٤١١١١١١١١١١١١١١١",
		"४१११ ११११ ११११ ११११",
		"%EF%BC%94%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91%EF%BC%91",
		`\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11`,
		"4111\u20071111\u20071111\u20071111", "4111\u20101111\u20101111\u20101111", "4111\u22121111\u22121111\u22121111",
		"4111\u30001111\u30001111\u30001111", "4111\uff0d1111\uff0d1111\uff0d1111", "4111\u20131111\u20131111\u20131111",
		"4111_1111_1111_1111",
	} {
		if !HasNumber(s) {
			t.Errorf("HasNumber(%q) = false", s)
		}
	}
	for _, s := range []string{"４１１１", "日本語のテキスト、番号なし", "４１１１１１１１１１１１１１１２"} {
		if HasNumber(s) {
			t.Errorf("HasNumber(%q) = true", s)
		}
	}
}
