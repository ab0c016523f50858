package network

import (
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/vault/boltvault"
)

// TestBoltReservationsInMemoryAndFromOlderFiles: a vault file whose DPAN
// reservations an older release filed under their keys (a KV without
// KeepInMemory writes exactly that layout) still has every token and every
// reservation counted once opened with reservations kept in memory; the
// reservations written then are counted too, after a restart as well.
func TestBoltReservationsInMemoryAndFromOlderFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	open := func(inMemory bool) (*boltvault.Bolt, *boltvault.KV) {
		b, err := boltvault.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		kv := b.KV("network_tokens")
		if inMemory {
			kv = kv.KeepInMemory(DPANReservationPrefix)
		}
		return b, kv
	}
	pans := []string{"4111111111111111", "5555555555554444", "4000056655665556"}
	var toks []Token
	provision := func(kv *boltvault.KV) {
		b := newTestBuiltin(t, kv)
		for _, pan := range pans {
			tok, err := b.Provision(ctx, provisionReq(pan))
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, tok)
		}
	}
	check := func(kv *boltvault.KV) {
		t.Helper()
		b := newTestBuiltin(t, kv)
		for _, want := range toks {
			got, err := b.Get(ctx, want.ID)
			if err != nil || got != want {
				t.Fatalf("token %s: %+v, %v", want.ID, got, err)
			}
			idx := dpanIndexKey(b.macs, want.DPAN)
			if taken, err := kv.Exists(ctx, idx); err != nil || !taken {
				t.Fatalf("the DPAN of %s is not reserved: %v, %v", want.ID, taken, err)
			}
			if v, err := kv.Load(ctx, idx); err != nil || string(v) != string(encodeReservation(want.ID)) {
				t.Fatalf("the reservation of %s reads %q, %v", want.ID, v, err)
			}
		}
		if taken, err := kv.Exists(ctx, dpanIndexKey(b.macs, "4895370000000000")); err != nil || taken {
			t.Fatalf("a DPAN never issued is reserved: %v, %v", taken, err)
		}
	}

	b, kv := open(false) // the layout older releases wrote
	provision(kv)
	b.Close()

	b, kv = open(true)
	check(kv) // the older reservations, under their keys
	provision(kv)
	check(kv) // and the new ones, from memory
	b.Close()

	b, kv = open(true)
	defer b.Close()
	check(kv) // after a restart, read back from the log
}
