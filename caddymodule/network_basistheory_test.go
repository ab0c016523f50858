package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/apitest"
)

// TestBasisTheoryProvider: a gateway whose network is basistheory gets its
// network tokens from a second tokengate serving Basis Theory's API over
// real HTTP; inbound and outbound work unchanged on top of it, and a test
// card's refusal reads the same as with the builtin service.
func TestBasisTheoryProvider(t *testing.T) {
	sandbox := apitest.BasisTheorySandbox(t, "sandbox_key")
	g := startGateway(t, "network basistheory {\n\t\t\tbase_url "+sandbox.URL+"\n\t\t\tapi_key sandbox_key\n\t\t}")

	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	token := str(decode(t, in.body), "card.number")
	rec, err := g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", token)
	if in.status != http.StatusOK || err != nil || rec.Network.Provider != "basistheory" || rec.Network.Status != "ACTIVE" {
		t.Fatalf("tokenize through Basis Theory: %d %s (%+v)", in.status, in.body, rec.Network.Error)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp := decode(t, out.body)
	if out.status != http.StatusOK || out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("detokenize through Basis Theory: %d %s %q", out.status, out.body, out.header.Get(InjectedHeader))
	}
	if n := str(psp, "card.number"); len(n) != 16 || n == visaPAN || len(str(psp, "card.cryptogram")) == 0 {
		t.Fatalf("the PSP did not get Basis Theory's network token and cryptogram: %d digits", len(n))
	}

	refused := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	rec, _ = g.app().tokenizer.Vault.Get(t.Context(), "tenant_a", str(decode(t, refused.body), "card.number"))
	if rec.Network.Error != "card_not_eligible" || rec.Network.ID != "" {
		t.Fatalf("a test card through Basis Theory: %+v", rec.Network.Error)
	}
	if strings.Contains(g.log(), visaPAN) || strings.Contains(g.log(), "4539097887163333") {
		t.Fatal("a card number reached the log")
	}
}
