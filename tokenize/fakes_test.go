package tokenize_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// testNow is the fixed clock of every test: cards expiring 12/2030 are
// valid, 05/2026 has expired.
var testNow = time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// Well-known test PANs (none is a Basis Theory outcome card, so they provision).
const (
	visaPAN   = "4111111111111111"
	visa2PAN  = "4242424242424242"
	mcPAN     = "5555555555554444"
	amexPAN   = "378282246310005"
	notElig   = "4539097887163333" // Basis Theory: card_not_eligible
	tenantA   = "tenant-a"
	tenantB   = "tenant-b"
	networkID = "builtin"
)

// testKeys is the shared test keyset.
func testKeys(t testing.TB) *keys.Keys { return vaulttest.Keys(t) }

// openBolt opens a fresh bbolt vault for the test.
func openBolt(t testing.TB) *boltvault.Bolt { return vaulttest.OpenBolt(t) }

// newBuiltin returns the embedded network token service on the fixed clock.
func newBuiltin(t testing.TB) *network.Builtin {
	t.Helper()
	b, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{7}, 32), Now: fixedNow}, network.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is a Tokenizer wired to real, cheap collaborators.
type env struct {
	shortLived *vault.ShortLived
	tk         *tokenize.Tokenizer
	vault      *boltvault.Bolt
	net        *network.Builtin
	cvvs       *cvvmem.Store
	keys       *keys.Keys
	cache      *vault.Cache
	path       string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	path := t.TempDir() + "/v.db"
	v, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	e := &env{vault: v, net: newBuiltin(t), cvvs: cvvs, keys: testKeys(t), path: path}
	// Wired as the app wires it (stack.New); setNet swaps the services.
	s := stack.New(stack.Config{Vault: v, Keys: e.keys, CVVs: cvvs, ProvisionTimeout: 2 * time.Second})
	e.shortLived, e.tk, e.cache = s.Records, s.Tokenizer, s.Cache
	e.tk.Now = fixedNow
	e.setNet(e.net)
	return e
}

// setNet makes svc the token service that provisions new cards (nil: none),
// with the default 2s provisioning budget.
func (e *env) setNet(svc network.Service) {
	reg, name := network.Registry{}, ""
	if svc != nil {
		name = svc.Name()
		reg[name] = svc
	}
	e.tk.Lifecycle.Networks, e.tk.Lifecycle.Provisioner = reg, name
}

// inboundSet parses an inbound rules file and returns its only set.
func inboundSet(t testing.TB, yaml string) *rules.Inbound {
	t.Helper()
	f, err := rules.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	if len(f.Inbound) != 1 {
		t.Fatalf("rules: want 1 inbound set, got %d", len(f.Inbound))
	}
	return f.Inbound[0]
}

// cardSet is the usual single-card set; opts are extra set keys
// ("token_format: uuid").
func cardSet(t testing.TB, tenant string, opts ...string) *rules.Inbound {
	t.Helper()
	var extra strings.Builder
	for _, o := range opts {
		fmt.Fprintf(&extra, "    %s\n", o)
	}
	return inboundSet(t, `inbound:
  checkout:
    tenant: `+tenant+`
`+extra.String()+`    fields:
      - {kind: pan, json: card.number, form: card_number}
      - {kind: cvv, json: card.cvc, form: card_cvc}
      - {kind: exp_month, json: card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: card.exp_year, form: card_exp_year}
      - {kind: name, json: card.name, form: card_name}
`)
}

// arraySet is a set with one card per element of "cards"; keepCVV masks the
// CVV instead of removing it.
func arraySet(t testing.TB, tenant string, keepCVV bool) *rules.Inbound {
	t.Helper()
	keep := ""
	if keepCVV {
		keep = ", keep: true"
	}
	return inboundSet(t, `inbound:
  cards:
    tenant: `+tenant+`
    fields:
      - {kind: pan, json: cards.#.number}
      - {kind: cvv, json: cards.#.cvc`+keep+`}
      - {kind: exp_month, json: cards.#.exp_month}
      - {kind: exp_year, json: cards.#.exp_year}
`)
}

func cardJSON(pan, cvv, month, year string) string {
	return `{"order":{"id":42, "note":"caf\u00e9  \"x\""},"card":{"number":"` + pan + `","cvc":"` + cvv +
		`","exp_month":"` + month + `","exp_year":"` + year + `","name":"Jane Doe"},"tail":[1, 2 ,3]}`
}

func parseJSON(t testing.TB, s string) body.Doc {
	t.Helper()
	doc, err := body.Parse(body.JSON, "application/json", []byte(s))
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

// apply tokenizes a JSON body and returns the edited body.
func (e *env) apply(t testing.TB, set *rules.Inbound, in string) ([]byte, tokenize.Result) {
	t.Helper()
	doc := parseJSON(t, in)
	res, err := e.tk.Apply(context.Background(), set, body.JSON, doc)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return docBytes(t, doc), res
}

// faultyVault wraps a vault and fails the chosen operations.
type faultyVault struct {
	vault.Vault
	putErr, getFPErr, updateErr error
}

func (f *faultyVault) Put(ctx context.Context, rec vault.Record) (vault.Record, bool, error) {
	if f.putErr != nil {
		return vault.Record{}, false, f.putErr
	}
	return f.Vault.Put(ctx, rec)
}

func (f *faultyVault) GetByFingerprint(ctx context.Context, tenant, fp string) (vault.Record, error) {
	if f.getFPErr != nil {
		return vault.Record{}, f.getFPErr
	}
	return f.Vault.GetByFingerprint(ctx, tenant, fp)
}

func (f *faultyVault) Update(ctx context.Context, rec vault.Record) (vault.Record, error) {
	if f.updateErr != nil {
		return vault.Record{}, f.updateErr
	}
	return f.Vault.Update(ctx, rec)
}

// failingCVVs is a CVV store that is down.
type failingCVVs struct{}

func (failingCVVs) PutCVV(context.Context, string, string, string, time.Duration) error {
	return errors.New("cvv store down")
}

func (failingCVVs) TakeCVV(context.Context, string, string) (string, bool, error) {
	return "", false, errors.New("cvv store down")
}

// blockingNet is a token service that never answers: Provision waits for
// its context to end.
type blockingNet struct{ network.Service }

func (blockingNet) Name() string { return "blocking" }

func (blockingNet) Provision(ctx context.Context, _ network.ProvisionRequest) (network.Token, error) {
	<-ctx.Done()
	return network.Token{}, ctx.Err()
}

// refusingNet is a token service that refuses every card with err.
type refusingNet struct {
	network.Service
	err error
}

func (refusingNet) Name() string { return "refusing" }

func (r refusingNet) Provision(context.Context, network.ProvisionRequest) (network.Token, error) {
	return network.Token{}, r.err
}

// countingNet wraps the builtin service, records provisioned ids and
// deletions, and can hold every Provision until `hold` calls are waiting,
// which forces concurrent requests to race.
type countingNet struct {
	*network.Builtin

	mu          sync.Mutex
	provisioned []string
	deleted     []string
	hold        int
	arrived     int
	release     chan struct{}
	// noIdempotency drops the idempotency key, as a provider without
	// idempotent provisioning would ignore it.
	noIdempotency bool
}

func newCountingNet(b *network.Builtin, hold int) *countingNet {
	return &countingNet{Builtin: b, hold: hold, release: make(chan struct{})}
}

func (c *countingNet) Provision(ctx context.Context, req network.ProvisionRequest) (network.Token, error) {
	if c.hold > 0 {
		c.mu.Lock()
		c.arrived++
		if c.arrived == c.hold {
			close(c.release)
		}
		c.mu.Unlock()
		select {
		case <-c.release:
		case <-time.After(3 * time.Second):
		}
	}
	if c.noIdempotency {
		req.IdempotencyKey = ""
	}
	tok, err := c.Builtin.Provision(ctx, req)
	if err == nil {
		c.mu.Lock()
		c.provisioned = append(c.provisioned, tok.ID)
		c.mu.Unlock()
	}
	return tok, err
}

func (c *countingNet) SetStatus(ctx context.Context, id, status string) error {
	if status == network.StatusDeleted {
		c.mu.Lock()
		c.deleted = append(c.deleted, id)
		c.mu.Unlock()
	}
	return c.Builtin.SetStatus(ctx, id, status)
}

func (c *countingNet) counts() (provisioned, deleted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.provisioned), len(c.deleted)
}
