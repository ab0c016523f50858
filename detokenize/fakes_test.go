package detokenize_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// testNow is the fixed clock: Mastercard tokens provisioned now expire
// 36 months later, in 06/2029, unlike their cards (12/2030).
var testNow = time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

const (
	visaPAN = "4111111111111111"
	mcPAN   = "5555555555554444"
	amexPAN = "378282246310005"
	tenantA = "tenant-a"
	tenantB = "tenant-b"
)

// testKeys is the shared test keyset.
func testKeys(t testing.TB) *keys.Keys { return vaulttest.Keys(t) }

// env is a Detokenizer wired to real, cheap collaborators.
type env struct {
	d     *detokenize.Detokenizer
	vault *boltvault.Bolt
	net   *network.Builtin
	cvvs  *cvvmem.Store
	keys  *keys.Keys
	seq   atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	v, err := boltvault.Open(t.TempDir() + "/v.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	nb, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{9}, 32), Now: fixedNow}, network.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	e := &env{vault: v, net: nb, cvvs: cvvs, keys: testKeys(t)}
	// Wired as the app wires it (stack.New); setNet swaps the services.
	e.d = stack.New(stack.Config{Vault: v, Keys: e.keys, CVVs: cvvs}).Detokenizer
	e.setNet(nb)
	return e
}

// setNet makes svc the only configured token service (nil: none).
func (e *env) setNet(svc network.Service) {
	reg := network.Registry{}
	if svc != nil {
		reg[svc.Name()] = svc
	}
	e.d.Lifecycle.Networks = reg
}

// issued is a card stored the way inbound tokenization stores it.
type issued struct {
	token string
	pan   string
	dpan  string
	ntID  string
	nt    network.Token
}

// issue stores a card in the tenant's vault with an active network token,
// and holds cvv (when not empty) for it.
func (e *env) issue(t testing.TB, tenant, pan, cvv string) issued {
	t.Helper()
	nt, err := e.net.Provision(context.Background(), network.ProvisionRequest{PAN: pan, ExpMonth: "12", ExpYear: "2030", CVV: cvv})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return e.store(t, tenant, pan, cvv, nt, "")
}

// issueVaultOnly stores a card without a network token, as tokenize does
// when provisioning failed with netErr.
func (e *env) issueVaultOnly(t testing.TB, tenant, pan, cvv, netErr string) issued {
	t.Helper()
	return e.store(t, tenant, pan, cvv, network.Token{}, netErr)
}

func (e *env) store(t testing.TB, tenant, pan, cvv string, nt network.Token, netErr string) issued {
	t.Helper()
	ctx := context.Background()
	brand, err := card.Validate(pan)
	if err != nil {
		t.Fatal(err)
	}
	fp := e.keys.Fingerprint(tenant, pan)
	token := fmt.Sprintf("tok_test%020d", e.seq.Add(1))
	sealed, err := e.keys.Seal(tenant, fp, token, keys.Secrets{PAN: pan, Name: "Jane Doe", DPAN: nt.DPAN})
	if err != nil {
		t.Fatal(err)
	}
	rec := vault.Record{
		Tenant: tenant, Token: token, Fingerprint: fp, Sealed: sealed,
		Brand: string(brand), BIN: card.BIN(pan), Last4: card.Last4(pan), ExpMonth: "12", ExpYear: "2030",
		Network: vault.NetworkToken{Provider: "builtin", Error: netErr},
	}
	if nt.ID != "" {
		rec.Network = vault.NetworkToken{Provider: "builtin", ID: nt.ID, Status: nt.Status, ExpMonth: nt.ExpMonth,
			ExpYear: nt.ExpYear, PAR: nt.PAR, Last4: card.Last4(nt.DPAN)}
	}
	if _, _, err := e.vault.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if cvv != "" {
		if err := e.cvvs.PutCVV(ctx, tenant, rec.Token, cvv, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return issued{token: rec.Token, pan: pan, dpan: nt.DPAN, ntID: nt.ID, nt: nt}
}

// record reads a token's vault record.
func (e *env) record(t testing.TB, tenant, token string) vault.Record {
	t.Helper()
	rec, err := e.vault.Get(context.Background(), tenant, token)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// outboundSet parses an outbound rules file and returns its only set.
func outboundSet(t testing.TB, yaml string) *rules.Outbound {
	t.Helper()
	f, err := rules.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	if len(f.Outbound) != 1 {
		t.Fatalf("rules: want 1 outbound set, got %d", len(f.Outbound))
	}
	return f.Outbound[0]
}

// pspSet is a single-card set: the token at card.number is replaced in
// place; fallback is "pan" or "reject".
func pspSet(t testing.TB, fallback string) *rules.Outbound {
	t.Helper()
	return outboundSet(t, `outbound:
  psp:
    destinations: ["psp.example:443"]
    fallback: `+fallback+`
    fields:
      - {kind: token, json: card.number, form: card_number}
      - {kind: exp_month, json: card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: card.exp_year, form: card_exp_year}
      - {kind: cryptogram, json: card.cryptogram, form: card_cryptogram}
      - {kind: eci, json: card.eci, form: card_eci}
      - {kind: cvv, json: card.cvc, form: card_cvc}
`)
}

// arraySet reads tokens at cards.#.token and writes each card's values
// beside it.
func arraySet(t testing.TB, fallback string) *rules.Outbound {
	t.Helper()
	return outboundSet(t, `outbound:
  psp:
    destinations: ["psp.example:443"]
    fallback: `+fallback+`
    fields:
      - {kind: token, json: cards.#.token}
      - {kind: number, json: cards.#.number}
      - {kind: exp_month, json: cards.#.exp_month}
      - {kind: exp_year, json: cards.#.exp_year}
      - {kind: cryptogram, json: cards.#.cryptogram}
      - {kind: eci, json: cards.#.eci}
      - {kind: cvv, json: cards.#.cvc}
`)
}

func parseDoc(t testing.TB, kind body.Kind, s string) body.Doc {
	t.Helper()
	ct := map[body.Kind]string{body.JSON: "application/json", body.Form: "application/x-www-form-urlencoded"}[kind]
	doc, err := body.Parse(kind, ct, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func docBytes(t testing.TB, doc body.Doc) []byte {
	t.Helper()
	out, err := doc.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// faultyVault fails Get with getErr, and counts Updates.
type faultyVault struct {
	vault.Vault
	getErr  error
	updates atomic.Int32
}

func (f *faultyVault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	if f.getErr != nil {
		return vault.Record{}, f.getErr
	}
	return f.Vault.Get(ctx, tenant, token)
}

func (f *faultyVault) Update(ctx context.Context, rec vault.Record) (vault.Record, error) {
	f.updates.Add(1)
	return f.Vault.Update(ctx, rec)
}

// flakyNet is the builtin service whose Cryptogram fails with err.
type flakyNet struct {
	*network.Builtin
	err error
}

func (f flakyNet) Cryptogram(context.Context, network.CryptogramRequest) (network.Cryptogram, error) {
	return network.Cryptogram{}, f.err
}

var errTSPDown = errors.New("token service: 502 bad gateway")
