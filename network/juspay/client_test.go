package juspay_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/juspay"
	"github.com/tokengate/tokengate/network/networktest"
)

func client(t testing.TB, sb *apitest.JuspaySandbox) *juspay.Client {
	t.Helper()
	c, err := juspay.New(juspay.Config{BaseURL: sb.URL, APIKey: "jp_key", MerchantID: "shop",
		JWEKeyID: sb.ServerKID, JWEKey: sb.ServerKey, PrivateKeyID: sb.MerchantKID, PrivateKey: sb.MerchantKey,
		CustomerID: "cust_1", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The provider passes the network service conformance suite against a
// tokengate serving Juspay's APIs over real HTTP, with Juspay's documented
// differences: one token per card and customer, no suspend or resume, a
// deleted card gone for the customer, no transaction type.
func TestConformance(t *testing.T) {
	networktest.RunProfile(t, networktest.Profile{OneTokenPerCard: true, AccountScopedKeys: true, NoMITRule: true, NoSuspend: true, DeletedIsGone: true},
		func(t *testing.T) network.Service { return client(t, apitest.NewJuspaySandbox(t, "shop", "jp_key")) })
}
