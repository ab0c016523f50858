package caddymodule

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
)

// BenchmarkNewResponseGuard is the response guard of one request of
// BenchmarkDetokenizeHTTP, built as serve builds it (guardOptions, then
// NewGuard), without the HTTP around it.
func BenchmarkNewResponseGuard(b *testing.B) {
	merchant := bytes.Replace(benchBody(b, "detokenize.json"), []byte("{{TOKEN}}"), []byte("tok_3bXkq2Lm9Pz4Qr7Ts1Uv"), 1)
	const dpan, crypt = "4895370012003478", "q5n/AbC+dEf12345678901234A=="
	sent := bytes.Replace(merchant, []byte(`"tok_3bXkq2Lm9Pz4Qr7Ts1Uv"`), []byte(`"`+dpan+`","cryptogram":"`+crypt+`","eci":"05"`), 1)
	r := httptest.NewRequest("POST", "/payments", bytes.NewReader(merchant))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "Go-http-client/1.1")
	set := &rules.Outbound{Name: "psp"}
	secrets := []responseguard.Secret{{Value: dpan, With: "tok_3bXkq2Lm9Pz4Qr7Ts1Uv"}, {Value: crypt, With: responseguard.Mask}}
	b.ReportAllocs()
	for b.Loop() {
		newResponseGuard(set, secrets, merchant, sent, r)
	}
}
