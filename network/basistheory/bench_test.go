package basistheory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/network"
)

// The provider's cost on loopback against a tokengate sandbox: what a
// provisioning and a cryptogram add over the builtin service (compare
// network's BenchmarkProvision and BenchmarkCryptogram).
func BenchmarkProvision(b *testing.B) {
	c := client(b, sandbox(b).URL)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		pan := luhn(fmt.Sprintf("400000%09d", i))
		if _, err := c.Provision(ctx, network.ProvisionRequest{PAN: pan, ExpMonth: "12", ExpYear: "2031", Brand: "visa"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCryptogram(b *testing.B) {
	c := client(b, sandbox(b).URL)
	ctx := context.Background()
	tok, err := c.Provision(ctx, network.ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2031", Brand: "visa"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Cryptogram(ctx, network.CryptogramRequest{TokenID: tok.ID}); err != nil {
			b.Fatal(err)
		}
	}
}

// luhn completes a prefix into a Luhn-valid number.
func luhn(prefix string) string { return prefix + string(card.LuhnDigit(prefix)) }
