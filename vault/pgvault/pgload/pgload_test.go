package pgload_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/pgvault/pgload"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// openVault opens a fresh database, closed with the test.
func openVault(t *testing.T) *pgvault.Vault {
	t.Helper()
	v, err := pgvault.Open(context.Background(), vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// Every card a run counts is in the database, record and token state, and
// only those: the count is the rows written, not the loops started.
func TestRunWritesWhatItCounts(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	cards := pgload.NewCards("pgown", "t1")
	res, err := pgload.Run(ctx, v, cards, 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cards == 0 || res.Workers != 4 || res.Seconds < 0.3 || res.PerSecond != float64(res.Cards)/res.Seconds {
		t.Fatalf("result %+v", res)
	}
	n, err := v.CountRecords(ctx)
	if err != nil || n != res.Cards {
		t.Fatalf("%d records in the database, %d counted (%v)", n, res.Cards, err)
	}
	// Each card's record is stored with its token state, as the gateway
	// stores a new card's.
	kv := v.KV(pgload.StateSpace)
	for after := (vault.RecordKey{}); ; {
		recs, err := v.Export(ctx, after, vault.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if data, err := kv.Load(ctx, rec.Network.ID); err != nil || data == nil {
				t.Fatalf("the token state of %s: %q, %v", rec.Token, data, err)
			}
		}
		after = vault.RecordKey{Tenant: recs[len(recs)-1].Tenant, Token: recs[len(recs)-1].Token}
	}
	var states int64
	for after := (vault.StateKey{}); ; {
		page, err := v.ExportState(ctx, after, vault.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		states += int64(len(page))
		after = vault.StateKey{Space: page[len(page)-1].Space, ID: page[len(page)-1].ID}
	}
	if states != 2*res.Cards {
		t.Fatalf("%d token state rows for %d cards", states, res.Cards)
	}
}

// A card that is not new stops the run with an error: a rate measured
// over failing writes would measure nothing.
func TestRunStopsOnAnError(t *testing.T) {
	ctx := context.Background()
	v := openVault(t)
	// The same prefix again: its first card is in the database already.
	if err := pgload.Write(ctx, v, v.KV(pgload.StateSpace), pgload.NewCards("pgown", "again").Next()); err != nil {
		t.Fatal(err)
	}
	res, err := pgload.Run(ctx, v, pgload.NewCards("pgown", "again"), 1, 5*time.Second)
	if err == nil || res.Seconds >= 5 {
		t.Fatalf("a clash: %+v, %v", res, err)
	}
}

// Cards differ in everything the schema keeps unique.
func TestCardsAreDistinct(t *testing.T) {
	cs := pgload.NewCards("pgown", "p")
	seen := map[string]bool{}
	for range 1000 {
		c := cs.Next()
		keys := []string{"token " + c.Rec.Token, "fp " + c.Rec.Fingerprint, "nt " + c.Rec.Network.ID}
		for id := range c.Entries {
			keys = append(keys, "kv "+id)
		}
		if len(c.Entries) != 2 || len(c.Rec.Sealed) == 0 {
			t.Fatalf("card %+v", c)
		}
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("%s handed out twice", k)
			}
			seen[k] = true
		}
	}
}
