package cvvredis_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/cvv/cvvredis"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// A short-lived card put through one gateway is read whole through
// another, stays with its tenant and token, is sealed in Redis, expires with
// its TTL and is gone once deleted.
func TestShortLivedShared(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	p := prefix()
	ks := vaulttest.Keys(t)
	a, b := cvvredis.NewShortLived(c, ks, p), cvvredis.NewShortLived(c, ks, p)
	rec := vaulttest.Sample("acme", "ctkn_1", "fp1")
	rec.Metadata = map[string]string{vault.ShortLivedMark: ""}
	rec.CreatedAt, rec.UpdatedAt = rec.CreatedAt.UTC(), rec.UpdatedAt.UTC()
	if err := a.PutShortLived(ctx, rec, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetShortLived(ctx, "acme", "ctkn_1")
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("the other gateway read %+v, %v; want %+v", got, err, rec)
	}
	if _, err := b.GetShortLived(ctx, "other", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	raw, _ := c.Get(ctx, a.KeyFor("acme", "ctkn_1")).Bytes()
	if len(raw) == 0 || strings.Contains(string(raw), rec.Last4) || strings.Contains(string(raw), "fp1") {
		t.Fatal("the record is readable in Redis")
	}
	// Moved to another token, it does not open.
	c.Set(ctx, a.KeyFor("acme", "ctkn_2"), raw, time.Minute)
	if _, err := b.GetShortLived(ctx, "acme", "ctkn_2"); err == nil || errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("a record moved to another token: %v", err)
	}
	if err := b.DeleteShortLived(ctx, "acme", "ctkn_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetShortLived(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := b.DeleteShortLived(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := a.PutShortLived(ctx, rec, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, err := b.GetShortLived(ctx, "acme", "ctkn_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("after its TTL: %v", err)
	}
}
