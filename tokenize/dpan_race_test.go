package tokenize_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// A narrow DPAN space: 13-digit Visa cards under an eight-digit token BIN
// leave four derived digits, 10,000 numbers. raceCards new cards fill a
// third of it, so draws that land on a number another card holds are
// frequent, and raceWorkers at once keep many cards between provisioning
// and the durable write of their record.
const (
	raceTokenBIN = "49999999"
	raceCards    = 3000
	raceWorkers  = 48
)

// TestConcurrentNewCardsGetDistinctDPANs tokenizes many distinct new cards
// at once through the tokenizer, lifecycle manager and builtin service as
// the app wires them (the short-lived layer over the read cache over the
// backend, the builtin's state in the backend's key-value store), and
// checks that no two cards were issued the same DPAN: the builtin's claim
// on a DPAN must outlast the unit of work that holds its write (see
// vault.Unit). With the claim released when the write was merely held,
// this test finds shared DPANs on the bbolt stack.
func TestConcurrentNewCardsGetDistinctDPANs(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) {
		b := openBolt(t)
		runDPANRace(t, b, b.KV("network_tokens"))
	})
	t.Run("postgres", func(t *testing.T) {
		v, err := pgvault.Open(context.Background(), vaulttest.PostgresDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		runDPANRace(t, v, v.KV("network_tokens"))
	})
}

func runDPANRace(t *testing.T, backend vault.Vault, state network.StateStore) {
	ctx := context.Background()
	ks := testKeys(t)
	builtin, err := network.NewBuiltin(network.BuiltinConfig{
		Key:       ks.DeriveKey("dpan race"),
		TokenBINs: map[string][]string{"visa": {raceTokenBIN}},
		Now:       fixedNow,
	}, state)
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	// Wired as the app wires it (stack.New): the short-lived layer over the
	// read cache over the backend.
	s := stack.New(stack.Config{Vault: backend, Keys: ks, CVVs: cvvs,
		Networks: network.Registry{"builtin": builtin}, Provisioner: "builtin",
		ProvisionTimeout: time.Minute, // a busy machine must not turn the test into timeouts
		CacheTTL:         time.Minute, CacheSize: raceCards})
	s.Tokenizer.Now = fixedNow
	tk := s.Tokenizer
	set := cardSet(t, tenantA)

	pans := make(chan string)
	go func() {
		defer close(pans)
		for i := range raceCards {
			partial := fmt.Sprintf("4%011d", 10_000_000_000+i)
			pans <- partial + string(card.LuhnDigit(partial))
		}
	}()
	var wg sync.WaitGroup
	for range raceWorkers {
		wg.Go(func() {
			for pan := range pans {
				doc, err := body.Parse(body.JSON, "application/json", []byte(cardJSON(pan, "123", "12", "2030")))
				if err != nil {
					t.Error(err)
					continue
				}
				if _, err := tk.Apply(ctx, set, body.JSON, doc); err != nil {
					t.Errorf("card %s: %v", card.Last4(pan), err)
					continue
				}
				if out, _ := doc.Bytes(); strings.Contains(string(out), pan) {
					t.Error("a PAN was left in the body")
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	builtin.Forget("")                          // from here on, tokens are read from the store
	owner := make(map[string]string, raceCards) // DPAN -> last four of the card
	issued, refused := 0, 0
	for i := range raceCards {
		partial := fmt.Sprintf("4%011d", 10_000_000_000+i)
		pan := partial + string(card.LuhnDigit(partial))
		fp := ks.Fingerprint(tenantA, pan)
		rec, err := backend.GetByFingerprint(ctx, tenantA, fp)
		if err != nil {
			t.Fatalf("card %d not stored: %v", i, err)
		}
		if rec.Network.Status != network.StatusActive {
			// The only refusal a narrow space may cause: no free number
			// after every draw (the builtin's "could not allocate").
			if rec.Network.Error != lifecycle.ReasonProviderError {
				t.Errorf("card %d: no network token (%q)", i, rec.Network.Error)
			}
			refused++
			continue
		}
		secrets, err := ks.Open(tenantA, fp, rec.Token, rec.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		dpan := secrets.DPAN
		if len(dpan) != 13 || !strings.HasPrefix(dpan, raceTokenBIN) {
			t.Fatalf("card %d: DPAN of %d digits outside the token BIN", i, len(dpan))
		}
		if other, ok := owner[dpan]; ok {
			t.Errorf("cards ending %s and %s share the DPAN ending %s", other, card.Last4(pan), card.Last4(dpan))
		}
		owner[dpan] = card.Last4(pan)
		issued++
		// The service agrees: the token is saved and derives that number.
		if tok, err := builtin.Get(ctx, rec.Network.ID); err != nil || tok.DPAN != dpan {
			t.Errorf("card %d: the service's token does not give the sealed DPAN (%v)", i, err)
		}
	}
	if refused > raceCards/100 {
		t.Errorf("%d of %d cards got no network token in a space a third full", refused, raceCards)
	}
	t.Logf("%d cards: %d network tokens, %d distinct DPANs, %d refused for want of a free number", raceCards, issued, len(owner), refused)
}
