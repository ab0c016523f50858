package tokenize_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/stack"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// gateway is one gateway process over a shared PostgreSQL database: its
// own pool, builtin service (claims, cache) and stack.
type gateway struct {
	v       *pgvault.Vault
	builtin *network.Builtin
	s       *stack.Stack
}

func newPGGateway(t *testing.T, dsn string, bins map[string][]string) *gateway {
	t.Helper()
	v, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	ks := testKeys(t)
	builtin, err := network.NewBuiltin(network.BuiltinConfig{
		Key: ks.DeriveKey("pgnew"), TokenBINs: bins, Now: fixedNow,
	}, v.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	cvvs := cvvmem.New(time.Minute)
	t.Cleanup(func() { cvvs.Close() })
	s := stack.New(stack.Config{Vault: v, Keys: ks, CVVs: cvvs,
		Networks: network.Registry{"builtin": builtin}, Provisioner: "builtin",
		ProvisionTimeout: time.Minute, CacheTTL: time.Minute, CacheSize: 10_000})
	s.Tokenizer.Now = fixedNow
	return &gateway{v: v, builtin: builtin, s: s}
}

func (g *gateway) apply(t *testing.T, pan string) {
	t.Helper()
	doc, err := body.Parse(body.JSON, "application/json", []byte(cardJSON(pan, "123", "12", "2030")))
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := g.s.Tokenizer.Apply(context.Background(), cardSet(t, tenantA), body.JSON, doc); err != nil {
		t.Errorf("card %s: %v", card.Last4(pan), err)
	}
}

func racePAN(i int) string {
	partial := fmt.Sprintf("4%011d", 20_000_000_000+i)
	return partial + string(card.LuhnDigit(partial))
}

// Concurrent requests of a known card whose network token was deleted
// provision its new token once (the same idempotency key: later ones join
// the first's pending token). The token the stored record holds must stay
// live: a joiner whose held state is found created by the first must not
// give that token back.
func TestConcurrentRefreshKeepsTheStoredToken(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	g := newPGGateway(t, dsn, nil)
	ctx := context.Background()
	const rounds = 4
	defer func() {
		// Each card: its deleted token and its new one; more are tokens
		// provisioned only to be given back (a redraw that found nothing
		// to join).
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM tokengate_kv WHERE name = 'network_tokens'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d cards: %d token states and reservations, %d for tokens given back", rounds, n, n-4*rounds)
	}()
	for round := range rounds {
		pan := racePAN(round)
		g.apply(t, pan)
		fp := g.s.Keys.Fingerprint(tenantA, pan)
		rec, err := g.s.Records.GetByFingerprint(ctx, tenantA, fp)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.s.Lifecycle.SetStatus(ctx, rec, network.StatusDeleted); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { g.apply(t, pan) })
		}
		wg.Wait()
		rec, err = g.s.Records.GetByFingerprint(ctx, tenantA, fp)
		if err != nil {
			t.Fatal(err)
		}
		g.builtin.Forget("")
		tok, err := g.builtin.Get(ctx, rec.Network.ID)
		if err != nil {
			t.Fatalf("round %d: the record's token: %v", round, err)
		}
		if rec.Network.Status != network.StatusActive || tok.Status != network.StatusActive {
			t.Fatalf("round %d: the record says %q, the service %q: a live card lost its token", round, rec.Network.Status, tok.Status)
		}
	}
}

// Two gateways on one database tokenize the same new cards at once in a
// narrow DPAN space (10,000 numbers, a third of it used), so draws clash
// across processes (found only at the record's INSERT) and both gateways
// store the same card (one wins, the other's token must leave nothing).
// Afterwards every record's token has its state and reservation, and no
// live state or reservation exists without a record.
func TestTwoGatewaysClashingDPANsLeaveNoOrphans(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	bins := map[string][]string{"visa": {raceTokenBIN}}
	gws := []*gateway{newPGGateway(t, dsn, bins), newPGGateway(t, dsn, bins)}
	const cards, workers = 3000, 24
	var wg sync.WaitGroup
	for gi, g := range gws {
		next := make(chan int)
		go func() {
			defer close(next)
			for i := range cards {
				if gi == 1 {
					i = cards - 1 - i // meet the other gateway half way
				}
				next <- i
			}
		}()
		for range workers {
			wg.Go(func() {
				for i := range next {
					g.apply(t, racePAN(i))
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	// Every record's token: its state (live) and reservation.
	tokens := map[string]bool{}
	for i := range cards {
		pan := racePAN(i)
		rec, err := gws[0].s.Records.GetByFingerprint(ctx, tenantA, gws[0].s.Keys.Fingerprint(tenantA, pan))
		if err != nil {
			t.Fatalf("card %d not stored: %v", i, err)
		}
		if rec.Network.ID == "" {
			continue // no free number after every draw
		}
		tokens[rec.Network.ID] = true
		gws[0].builtin.Forget("")
		tok, err := gws[0].builtin.Get(ctx, rec.Network.ID)
		if err != nil || tok.Status != network.StatusActive {
			t.Errorf("card %d: its token has no live state (%v)", i, err)
		}
	}
	// Every live state in the store is a record's, every reservation a
	// stored state's.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id, data FROM tokengate_kv WHERE name = 'network_tokens'`)
	if err != nil {
		t.Fatal(err)
	}
	states, reservations := map[string]string{}, map[string]string{}
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatal(err)
		}
		var v struct{ ID, Status string }
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		if v.Status != "" {
			states[id] = v.Status
		} else {
			reservations[id] = v.ID
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	live := 0
	for id, status := range states {
		if status == network.StatusDeleted {
			continue // given back: kept so its number is never reissued
		}
		live++
		if !tokens[id] {
			t.Errorf("a live token state without a record (%s)", status)
		}
	}
	reserved := map[string]int{}
	for _, id := range reservations {
		if _, ok := states[id]; !ok {
			t.Error("a DPAN reservation without its state")
		}
		reserved[id]++
	}
	for id, status := range states {
		if reserved[id] != 1 {
			t.Errorf("a %s state with %d DPAN reservations", status, reserved[id])
		}
	}
	if live != len(tokens) {
		t.Errorf("%d live states for %d records with a token", live, len(tokens))
	}
	t.Logf("%d cards, %d tokens, %d states (%d live), %d reservations", cards, len(tokens), len(states), live, len(reservations))
}

// A rule set whose tokens are the DPANs, in a narrow DPAN space: a draw
// that lands on a stored card's number clashes on the record's token as
// well as on the reservation, and must be drawn again, not refused.
func TestNetworkTokenFormatClashesAreRedrawn(t *testing.T) {
	g := newPGGateway(t, vaulttest.PostgresDatabase(t), map[string][]string{"visa": {raceTokenBIN}})
	set := cardSet(t, tenantA, "token_format: network_token")
	const cards, workers = 2000, 16
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range cards {
			next <- i
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				pan := racePAN(i)
				doc, err := body.Parse(body.JSON, "application/json", []byte(cardJSON(pan, "123", "12", "2030")))
				if err != nil {
					t.Error(err)
					continue
				}
				if _, err := g.s.Tokenizer.Apply(context.Background(), set, body.JSON, doc); err != nil {
					t.Errorf("card %s: %v", card.Last4(pan), err)
				}
			}
		})
	}
	wg.Wait()
}
