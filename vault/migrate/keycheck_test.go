package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/migrate"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// keysetOf is a keyset holding these key ids.
type keysetOf []uint32

func (k keysetOf) HasKeyID(id uint32) bool { return slices.Contains(k, id) }

// boltWith is a new bbolt vault holding one record per key id, in tenant.
func boltWith(t *testing.T, tenant string, ids ...uint32) *boltvault.Bolt {
	t.Helper()
	b, err := boltvault.Open(filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for i, id := range ids {
		rec := vaulttest.Sample(tenant, fmt.Sprintf("tok_%s_%d", tenant, i), fmt.Sprintf("fp_%s_%d", tenant, i))
		rec.Sealed = vaulttest.SealedWith(id)
		if _, _, err := b.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// A copy across keysets is refused before anything is written, naming the
// keys; what one keyset opens, or what is already the target's, is copied.
func TestMigrateAcrossKeysets(t *testing.T) {
	ctx := context.Background()
	count := func(b *boltvault.Bolt) int64 {
		n, err := b.CountRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Two keysets: refused, nothing copied.
	src, dst := boltWith(t, "acme", 1001, 1001), boltWith(t, "acme2", 2002)
	_, err := migrate.Run(ctx, src, dst, migrate.Options{})
	var ke *migrate.KeysError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "target keys: 2002; source keys: 1001") || count(dst) != 1 {
		t.Fatalf("across keysets: %v (target holds %d)", err, count(dst))
	}
	// Against a keyset lacking one: refused, naming it.
	if _, err := migrate.Run(ctx, src, dst, migrate.Options{Keyset: keysetOf{1001}}); !errors.As(err, &ke) || !strings.Contains(err.Error(), "does not hold key 2002") || count(dst) != 1 {
		t.Fatalf("keyset without 2002: %v", err)
	}
	// Against a keyset holding both (one rotated between them): copied.
	if rep, err := migrate.Run(ctx, src, dst, migrate.Options{Keyset: keysetOf{1001, 2002}}); err != nil || rep.Copied != 2 {
		t.Fatalf("keyset with both: %v %+v", err, rep)
	}

	// An empty target, the same keyset, an older state of the target's
	// keyset: copied.
	for name, c := range map[string]struct {
		src, dst []uint32
		needed   []uint32
	}{
		"empty target":   {src: []uint32{1, 2}},
		"same keys":      {src: []uint32{1, 2}, dst: []uint32{2, 1}},
		"older source":   {src: []uint32{1}, dst: []uint32{1, 2}},
		"part of source": {src: []uint32{1, 2}, dst: []uint32{1}, needed: []uint32{2}},
	} {
		rep, err := migrate.Run(ctx, boltWith(t, "s", c.src...), boltWith(t, "d", c.dst...), migrate.Options{})
		if err != nil || !slices.Equal(rep.KeysNeeded, c.needed) {
			t.Errorf("%s: %v, keys needed %v", name, err, rep.KeysNeeded)
		}
	}
	// Each holding a key the other does not use: refused.
	if _, err := migrate.Run(ctx, boltWith(t, "s", 1, 3), boltWith(t, "d", 1, 2), migrate.Options{}); !errors.As(err, &ke) {
		t.Errorf("overlapping keysets: %v", err)
	}
}
