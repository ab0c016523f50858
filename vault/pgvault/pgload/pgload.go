// Package pgload is the PostgreSQL vault's side of a new card, with dummy
// rows, as a load: what the gateway asks of PostgreSQL per new card, without
// the gateway. bench/pgown runs it against bench/run's database for the
// new-card rate PostgreSQL itself sustains, and pgvault's
// BenchmarkPostgresNewCard measures it. Rows hold random bytes, never card
// data.
package pgload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
)

// StateSpace is the key-value space the gateway's builtin network token
// service keeps its state in (caddymodule's network_builtin.go).
const StateSpace = "network_tokens"

// Card is what one new card writes, shaped like the gateway's: a record
// with sealed data of a typical size, a network token and the day it was
// last used (vault.Touching stamps it), and the builtin service's token
// state and DPAN reservation.
type Card struct {
	Rec     vault.Record
	Entries map[string][]byte
}

// Cards hands out distinct dummy cards for a tenant; prefix keeps the
// tokens and fingerprints of different runs over one database apart.
type Cards struct {
	tenant, prefix string
	seq            atomic.Int64
}

// NewCards returns a card source.
func NewCards(tenant, prefix string) *Cards { return &Cards{tenant: tenant, prefix: prefix} }

// sealedSize is what keys.Seal makes of bench/run's card: a 16-digit PAN,
// the name "Jane Doe" and a 16-digit DPAN. (BenchmarkPostgresNewCard used
// 180 bytes before, about twice the real size.)
const sealedSize = 78

// Next returns a new card no other call returned.
func (cs *Cards) Next() Card {
	n := cs.seq.Add(1)
	sealed := make([]byte, sealedSize)
	_, _ = rand.Read(sealed)
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:16])
	now := time.Now().UTC()
	rec := vault.Record{
		Tenant:      cs.tenant,
		Token:       fmt.Sprintf("tok_%s_%d", cs.prefix, n),
		Fingerprint: fmt.Sprintf("fp_%s_%d_%s", cs.prefix, n, id),
		Sealed:      sealed,
		Brand:       "visa",
		BIN:         "42424242",
		Last4:       "4242",
		ExpMonth:    "03",
		ExpYear:     "2030",
		Network: vault.NetworkToken{
			Provider: "builtin", ID: id, Status: "ACTIVE", ExpMonth: "03", ExpYear: "2030",
			PAR: "V0010013020221234567890123456", Last4: "1111",
		},
		Metadata: map[string]string{vault.LastUsedKey: now.Format("2006-01-02")},
	}
	state, _ := json.Marshal(map[string]any{
		"v": 1, "id": id, "brand": "visa", "token_bin": "489537", "length": 16, "key_id": "k1",
		"exp_month": "03", "exp_year": "2030", "par": "V0010013020221234567890123456",
		"status": "ACTIVE", "created": now, "updated": now,
	})
	// The reservation is filed under a keyed hash of the DPAN
	// (network's dpanIndexKey): 16 bytes in hex.
	index := "dpan-index:" + hex.EncodeToString(raw[16:])
	res, _ := json.Marshal(map[string]string{"id": id})
	return Card{Rec: rec, Entries: map[string][]byte{id: state, index: res}}
}

// Write makes c's writes as the tokenizer makes a new card's with the
// builtin network token service on v's key-value table (kv, a
// network.RecordCreator): the fingerprint lookup (a miss), the service's
// state held in the card's unit of work to be created (HoldNew, nothing
// sent), the record put in that unit (one statement that creates the
// state too), the unit committed. pgvault batches each of those with other
// cards' as it does in the gateway.
func Write(ctx context.Context, v *pgvault.Vault, kv *pgvault.KV, c Card) error {
	switch _, err := v.GetByFingerprint(ctx, c.Rec.Tenant, c.Rec.Fingerprint); {
	case err == nil:
		return errors.New("pgload: the lookup of a new card found a record")
	case !errors.Is(err, vault.ErrNotFound):
		return err
	}
	unit := vault.NewUnit()
	defer unit.Rollback() // after Commit, nothing
	if err := unit.HoldNew(kv, c.Entries); err != nil {
		return err
	}
	if _, created, err := vault.Put(ctx, v, unit, c.Rec); err != nil || !created {
		return fmt.Errorf("pgload: record: created %v, %v", created, err)
	}
	return unit.Commit(ctx)
}

// Result is what Run did.
type Result struct {
	Cards     int64   `json:"cards"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"cards_per_s"`
	Workers   int     `json:"workers"`
}

// Run writes new cards from workers goroutines, each one card at a time
// like a client on a keep-alive connection, until d has passed; the first
// error stops it.
func Run(ctx context.Context, v *pgvault.Vault, cards *Cards, workers int, d time.Duration) (Result, error) {
	kv := v.KV(StateSpace)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := Write(ctx, v, kv, cards.Next()); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	r := Result{Cards: done.Load(), Seconds: elapsed, Workers: workers}
	if elapsed > 0 {
		r.PerSecond = float64(r.Cards) / elapsed
	}
	return r, first
}
