package caddymodule

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/apitest"
)

// TestJuspayProvider: a gateway whose network is juspay gets its network
// tokens from a second tokengate serving Juspay's APIs over real HTTP, the
// card data in a JWE to the sandbox's key and the answers in a JWE to the
// merchant's; inbound and outbound work unchanged on top of it.
func TestJuspayProvider(t *testing.T) {
	sb := apitest.NewJuspaySandbox(t, "shop", "jp_key")
	dir := t.TempDir()
	pub, _ := x509.MarshalPKIXPublicKey(sb.ServerKey)
	priv, _ := x509.MarshalPKCS8PrivateKey(sb.MerchantKey)
	pubFile, privFile := filepath.Join(dir, "juspay.pub.pem"), filepath.Join(dir, "merchant.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600)
	g := startGateway(t, "network juspay {\n\t\t\tbase_url "+sb.URL+"\n\t\t\tapi_key jp_key\n\t\t\tmerchant_id shop\n\t\t\tjwe_key "+sb.ServerKID+" "+pubFile+
		"\n\t\t\tprivate_key "+sb.MerchantKID+" "+privFile+"\n\t\t}")

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, err := g.app().stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if in.status != http.StatusOK || err != nil || rec.Network.Provider != "juspay" || rec.Network.Status != "ACTIVE" {
		t.Fatalf("tokenize through Juspay: %d %s (%s)", in.status, in.body, rec.Network.Error)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp := decode(t, out.body)
	if out.header.Get(InjectedHeader) != "card.number=network_token" || len(str(psp, "card.number")) != 16 || str(psp, "card.number") == visaPAN || str(psp, "card.cryptogram") == "" {
		t.Fatalf("detokenize through Juspay: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	refused := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	rec, _ = g.app().stack.Load().Records.Get(t.Context(), "tenant_a", str(decode(t, refused.body), "card.number"))
	if rec.Network.Error != "card_not_eligible" {
		t.Fatalf("a test card through Juspay: %q", rec.Network.Error)
	}
	if strings.Contains(g.log(), visaPAN) {
		t.Fatal("a card number reached the log")
	}
}
