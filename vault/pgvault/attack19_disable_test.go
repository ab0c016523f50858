package pgvault_test

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
)

// sealedWith is a record's sealed data as key id made it (the format byte,
// Tink's prefix, the key id, then anything).
func sealedWith(id uint32) []byte {
	return []byte{0x02, 0x01, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id), 9, 9, 9, 9}
}

// TestAttack19ForgetKeyWhileWritten: a rolling reload: one gateway still on
// the old keyset writes a record sealed with the old key (1) while `keys
// disable 1` runs. The count did not see the uncommitted write, the
// trigger saw the key's row still there and added nothing, and the id was
// forgotten: a record the keyset no longer opens, and no start refused (a
// --destroy lost it for good). The write now holds the key's row until it
// commits, so the disable waits for it and counts it.
func TestAttack19ForgetKeyWhileWritten(t *testing.T) {
	ctx := context.Background()
	dsn := freshDatabase(t)
	v, err := pgvault.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// Key 1 sealed tok_a once (its id is recorded), then the re-seal moved
	// it to key 2: no record uses key 1.
	rec := vault.Record{Tenant: "t", Token: "tok_a", Fingerprint: "fa", Sealed: sealedWith(1), Brand: "visa", Last4: "1111"}
	stored, _, err := v.Put(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	stored.Sealed = sealedWith(2)
	if _, err := v.Update(ctx, stored); err != nil {
		t.Fatal(err)
	}
	// The old gateway's write, in flight.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tokengate_records SET data = jsonb_set(data::jsonb, '{sealed}', to_jsonb($1::text))::`+
		`jsonb WHERE token = 'tok_a'`, base64.StdEncoding.EncodeToString(sealedWith(1))); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := v.ForgetSealingKey(ctx, 1)
		done <- result{n, err}
	}()
	time.Sleep(300 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	counts, err := v.CountBySealingKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := v.SealingKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.ByKey[1] > 0 && r.n == 0 && !slices.Contains(sk.IDs, 1) {
		t.Fatalf("keys disable forgot key 1 while a record written meanwhile is sealed with it (counts %v, recorded ids %v)", counts.ByKey, sk.IDs)
	}
}
