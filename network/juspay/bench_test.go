package juspay_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/network"
)

// The provider's cost on loopback against a tokengate sandbox: a
// provisioning (two RSA-OAEP operations, one durable write at the sandbox)
// and a cryptogram.
func BenchmarkProvision(b *testing.B) {
	c := client(b, apitest.NewJuspaySandbox(b, "shop", "jp_key"))
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Provision(ctx, network.ProvisionRequest{PAN: luhn(fmt.Sprintf("400000%09d", i)), ExpMonth: "12", ExpYear: "2031"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCryptogram(b *testing.B) {
	c := client(b, apitest.NewJuspaySandbox(b, "shop", "jp_key"))
	ctx := context.Background()
	tok, err := c.Provision(ctx, network.ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2031"})
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
