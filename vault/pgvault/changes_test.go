package pgvault_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// A change or delete committed through one gateway's pool is announced to
// another gateway's watcher, record by record and state entry by state
// entry; inserts are not (misses are never cached).
func TestChangesAnnounced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn, watching, writer := twoGateways(ctx, t)
	changes := make(chan pgvault.Change, 16)
	up := make(chan bool, 4)
	watching.Watch(ctx, pgvault.Watcher{Changed: func(c pgvault.Change) { changes <- c }, Listening: func(b bool) { up <- b }})
	select {
	case b := <-up:
		if !b {
			t.Fatal("the watcher reported a lost connection first")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher never listened")
	}
	next := func(what string) (pgvault.Change, time.Duration) {
		start := time.Now()
		select {
		case c := <-changes:
			return c, time.Since(start)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no announcement", what)
			return pgvault.Change{}, 0
		}
	}

	rec, _, err := writer.Put(ctx, vaulttest.Sample("acme", "tok_1", "fp1"))
	if err != nil {
		t.Fatal(err)
	}
	kv := writer.KV("network_tokens")
	if err := kv.Save(ctx, "ntk_1", []byte(`{"status":"ACTIVE"}`)); err != nil {
		t.Fatal(err)
	}
	rec.Network.Status = "SUSPENDED"
	start := time.Now()
	if _, err := writer.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	c, _ := next("update")
	if c.Tenant != "acme" || c.Token != "tok_1" || c.All {
		t.Fatalf("update announced as %+v", c)
	}
	t.Logf("update committed to announcement heard: %v", time.Since(start))
	if err := kv.Save(ctx, "ntk_1", []byte(`{"status":"SUSPENDED"}`)); err != nil {
		t.Fatal(err)
	}
	if c, _ := next("state change"); c.Name != "network_tokens" || c.ID != "ntk_1" {
		t.Fatalf("state change announced as %+v", c)
	}
	if err := writer.Delete(ctx, "acme", "tok_1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := next("delete"); c.Token != "tok_1" {
		t.Fatalf("delete announced as %+v", c)
	}
	select {
	case c := <-changes:
		t.Fatalf("an insert or nothing was announced: %+v", c)
	case <-time.After(100 * time.Millisecond):
	}

	// The listening connection killed by the database: the watcher says so
	// (the cache pauses), reconnects by itself and says so again.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the listener: %d, %v", killed, err)
	}
	for _, want := range []bool{false, true} {
		select {
		case b := <-up:
			if b != want {
				t.Fatalf("listening %v, want %v", b, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no listening=%v report", want)
		}
	}
	if err := writer.Delete(ctx, "acme", "nope"); err == nil {
		t.Fatal("deleting nothing succeeded")
	}
	if _, _, err := writer.Put(ctx, vaulttest.Sample("acme", "tok_2", "fp2")); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "acme", "tok_2"); err != nil {
		t.Fatal(err)
	}
	if c, _ := next("delete after reconnecting"); c.Token != "tok_2" {
		t.Fatalf("after reconnecting, delete announced as %+v", c)
	}
}
