package juspay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/juspay"
	"github.com/tokengate/tokengate/network/providerhttp"
)

// Keys that do not match: an answer the merchant key cannot open is a
// provider failure with a reason, card data the sandbox cannot open is a
// refusal; neither error holds the card number.
func TestWrongKeys(t *testing.T) {
	sb := apitest.NewJuspaySandbox(t, "shop", "jp_key")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	req := network.ProvisionRequest{PAN: "4111111111111111", ExpMonth: "12", ExpYear: "2031"}
	for name, tc := range map[string]struct {
		cfg  func(*juspay.Config)
		want func(error) bool
	}{
		"answer to another key": {func(c *juspay.Config) { c.PrivateKey = other }, func(err error) bool {
			return errors.Is(err, providerhttp.ErrUnavailable) && strings.Contains(err.Error(), "does not decrypt")
		}},
		"card data to another key": {func(c *juspay.Config) { c.JWEKey = &other.PublicKey }, func(err error) bool {
			var ne *network.Error
			return errors.As(err, &ne) && ne.Code == "invalid_card"
		}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := juspay.Config{BaseURL: sb.URL, APIKey: "jp_key", MerchantID: "shop", JWEKeyID: sb.ServerKID, JWEKey: sb.ServerKey,
				PrivateKeyID: sb.MerchantKID, PrivateKey: sb.MerchantKey, CustomerID: "c", Timeout: 2 * time.Second}
			tc.cfg(&cfg)
			c, err := juspay.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Provision(t.Context(), req)
			if !tc.want(err) || strings.Contains(err.Error(), req.PAN) {
				t.Fatalf("%v", err)
			}
		})
	}
	if _, err := juspay.New(juspay.Config{BaseURL: "http://juspay.example", APIKey: "k", MerchantID: "m", JWEKeyID: "k", JWEKey: &other.PublicKey, PrivateKey: other}); err == nil {
		t.Fatal("plain http off this machine was accepted")
	}
}
