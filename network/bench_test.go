package network

import "testing"

func BenchmarkCryptogram(b *testing.B) {
	s := newTestBuiltin(b, NewMemoryStore())
	tok, err := s.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProvision(b *testing.B) {
	s := newTestBuiltin(b, NewMemoryStore())
	req := provisionReq("4111111111111111")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Provision(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
