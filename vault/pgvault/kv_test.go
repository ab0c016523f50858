package pgvault_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/network/networktest"
	"github.com/tokengate/tokengate/vault/pgvault"
)

func openKV(t *testing.T, dsn string) *pgvault.KV {
	v, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v.KV("network_tokens")
}

// Create writes all its entries or, when any id holds data, none.
func TestKVCreateIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	kv := openKV(t, freshDatabase(t))
	if ok, err := kv.Create(ctx, map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil || !ok {
		t.Fatalf("first create: %v %v", ok, err)
	}
	if ok, err := kv.Create(ctx, map[string][]byte{"b": []byte("x"), "c": []byte("3")}); err != nil || ok {
		t.Fatalf("a create over an existing id: %v %v", ok, err)
	}
	if c, _ := kv.Load(ctx, "c"); c != nil {
		t.Fatal("a refused create wrote part of its entries")
	}
	if b, _ := kv.Load(ctx, "b"); string(b) != "2" {
		t.Fatalf("a refused create changed an entry: %q", b)
	}
}

// The builtin network token service keeps every promise of its contract
// with its state in PostgreSQL, as several gateways run it.
func TestBuiltinConformanceOnPostgres(t *testing.T) {
	networktest.Run(t, func(t *testing.T) network.Service {
		b, err := network.NewBuiltin(network.BuiltinConfig{Key: bytes.Repeat([]byte{0x42}, 32)}, openKV(t, freshDatabase(t)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
