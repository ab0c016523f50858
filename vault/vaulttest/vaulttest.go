// Package vaulttest is the conformance suite for vault.Vault backends. Every
// backend (bbolt, PostgreSQL) runs Run in its tests, so callers can rely on
// the same semantics whichever backend is configured.
package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// Run runs every conformance subtest. open must return a fresh, empty vault
// for each call; Run closes it at the end of the subtest.
func Run(t *testing.T, open func(t *testing.T) vault.Vault) {
	tests := []struct {
		name string
		fn   func(t *testing.T, v vault.Vault)
	}{
		{"PutGetRoundtrip", testRoundtrip},
		{"IdempotentPutByFingerprint", testIdempotent},
		{"TokenCollision", testTokenCollision},
		{"TenantIsolation", testTenantIsolation},
		{"GetByFingerprint", testGetByFingerprint},
		{"Update", testUpdate},
		{"UpdateIsCompareAndSet", testUpdateConflict},
		{"GetByNetworkToken", testGetByNetworkToken},
		{"ListPages", testList},
		{"Delete", testDelete},
		{"ConcurrentSameFingerprint", testConcurrentSame},
		{"ConcurrentDistinctCards", testConcurrentDistinct},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := open(t)
			t.Cleanup(func() {
				if err := v.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, v)
		})
	}
}

// Sample returns a fully populated record, so a backend that drops a field
// fails the roundtrip. The Sealed bytes include zeros and high bytes.
func Sample(tenant, token, fingerprint string) vault.Record {
	return vault.Record{
		Tenant:      tenant,
		Token:       token,
		Fingerprint: fingerprint,
		Sealed:      []byte{0x01, 0x00, 0xff, 0x7f, 0x80, 'a', 0x00, 0xfe},
		Brand:       "visa",
		BIN:         "42424242",
		Last4:       "4242",
		ExpMonth:    "03",
		ExpYear:     "2030",
		Metadata:    map[string]string{"juspay.customer:cth_1": "", "note": "no card data here"},
		Network: vault.NetworkToken{
			Provider: "builtin",
			ID:       "nt_" + token,
			Status:   "ACTIVE",
			ExpMonth: "03",
			ExpYear:  "2030",
			PAR:      "V0010013020221234567890123456",
			Last4:    "1111",
			Error:    "",
		},
	}
}

func mustPut(t *testing.T, v vault.Vault, rec vault.Record) vault.Record {
	t.Helper()
	stored, created, err := v.Put(context.Background(), rec)
	if err != nil {
		t.Fatalf("Put(%s/%s): %v", rec.Tenant, rec.Token, err)
	}
	if !created {
		t.Fatalf("Put(%s/%s): created=false for a new card", rec.Tenant, rec.Token)
	}
	return stored
}

// sameRecord compares records field by field, times with Equal (a backend
// may return times in another location or without a monotonic reading).
func sameRecord(t *testing.T, what string, got, want vault.Record) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: times = %v/%v, want %v/%v", what, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func testRoundtrip(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	rec := Sample("acme", "tok_1", "fp1")
	before := time.Now().Add(-time.Second)
	stored := mustPut(t, v, rec)
	if stored.CreatedAt.IsZero() || stored.CreatedAt.Before(before) || !stored.UpdatedAt.Equal(stored.CreatedAt) {
		t.Errorf("Put set CreatedAt=%v UpdatedAt=%v; want now and equal", stored.CreatedAt, stored.UpdatedAt)
	}
	if stored.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", stored.CreatedAt.Location())
	}
	if stored.Version != 1 {
		t.Errorf("Put set Version=%d, want 1", stored.Version)
	}
	want := rec
	want.CreatedAt, want.UpdatedAt, want.Version = stored.CreatedAt, stored.UpdatedAt, 1
	sameRecord(t, "Put result", stored, want)
	got, err := v.Get(ctx, "acme", "tok_1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameRecord(t, "Get", got, want)
	if !bytes.Equal(got.Sealed, rec.Sealed) {
		t.Errorf("Sealed = %x, want %x", got.Sealed, rec.Sealed)
	}
	if _, err := v.Get(ctx, "acme", "tok_missing"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Get(missing) err = %v, want ErrNotFound", err)
	}
}

func testIdempotent(t *testing.T, v vault.Vault) {
	first := mustPut(t, v, Sample("acme", "tok_a", "fp"))
	again := Sample("acme", "tok_b", "fp")
	again.Last4 = "9999"
	stored, created, err := v.Put(context.Background(), again)
	if err != nil || created {
		t.Fatalf("second Put = created %v, err %v; want false, nil", created, err)
	}
	sameRecord(t, "second Put", stored, first)
	if _, err := v.Get(context.Background(), "acme", "tok_b"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the second token was stored (err = %v)", err)
	}
}

func testTokenCollision(t *testing.T, v vault.Vault) {
	mustPut(t, v, Sample("acme", "tok_x", "fp1"))
	_, _, err := v.Put(context.Background(), Sample("acme", "tok_x", "fp2"))
	if !errors.Is(err, vault.ErrTokenTaken) {
		t.Fatalf("Put(same token, new card) err = %v, want ErrTokenTaken", err)
	}
	if _, err := v.GetByFingerprint(context.Background(), "acme", "fp2"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the rejected card was indexed (err = %v)", err)
	}
}

func testTenantIsolation(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	a := Sample("tenant-a", "tok_same", "fp_same")
	b := Sample("tenant-b", "tok_same", "fp_same")
	b.Last4 = "0000"
	sa, sb := mustPut(t, v, a), mustPut(t, v, b)
	got, err := v.Get(ctx, "tenant-b", "tok_same")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "tenant-b Get", got, sb)
	got, err = v.GetByFingerprint(ctx, "tenant-a", "fp_same")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "tenant-a GetByFingerprint", got, sa)
	mustPut(t, v, Sample("tenant-a", "tok_only_a", "fp_only_a"))
	if _, err := v.Get(ctx, "tenant-b", "tok_only_a"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Get with the wrong tenant err = %v, want ErrNotFound", err)
	}
	if _, err := v.GetByFingerprint(ctx, "tenant-b", "fp_only_a"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("GetByFingerprint with the wrong tenant err = %v, want ErrNotFound", err)
	}
	if _, err := v.Get(ctx, "tenant-never-seen", "tok_same"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Get in an unknown tenant err = %v, want ErrNotFound", err)
	}
	if err := v.Delete(ctx, "tenant-b", "tok_only_a"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Delete with the wrong tenant err = %v, want ErrNotFound", err)
	}
}

func testGetByFingerprint(t *testing.T, v vault.Vault) {
	stored := mustPut(t, v, Sample("acme", "tok_f", "fp_f"))
	got, err := v.GetByFingerprint(context.Background(), "acme", "fp_f")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "GetByFingerprint", got, stored)
	if _, err := v.GetByFingerprint(context.Background(), "acme", "fp_none"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("GetByFingerprint(unknown) err = %v, want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	stored := mustPut(t, v, Sample("acme", "tok_u", "fp_u"))
	time.Sleep(5 * time.Millisecond) // UpdatedAt must visibly move
	next := stored
	next.Network.Status = "SUSPENDED"
	next.ExpYear = "2031"
	next.Sealed = []byte("resealed")
	next.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // must be ignored
	updated, err := v.Update(ctx, next)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.Version != stored.Version+1 {
		t.Errorf("Update returned Version=%d, want %d", updated.Version, stored.Version+1)
	}
	got, err := v.Get(ctx, "acme", "tok_u")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(stored.CreatedAt) {
		t.Errorf("CreatedAt = %v, want the original %v", got.CreatedAt, stored.CreatedAt)
	}
	if !got.UpdatedAt.After(stored.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, want after %v", got.UpdatedAt, stored.UpdatedAt)
	}
	want := next
	want.CreatedAt, want.UpdatedAt, want.Version = got.CreatedAt, got.UpdatedAt, stored.Version+1
	sameRecord(t, "Get after Update", got, want)
	sameRecord(t, "Update result", updated, want)
	byFP, err := v.GetByFingerprint(ctx, "acme", "fp_u")
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, "GetByFingerprint after Update", byFP, want)
	if _, err := v.Update(ctx, Sample("acme", "tok_unknown", "fp_z")); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Update(unknown) err = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	mustPut(t, v, Sample("acme", "tok_d", "fp_d"))
	if err := v.Delete(ctx, "acme", "tok_d"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := v.Get(ctx, "acme", "tok_d"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("Get after Delete err = %v, want ErrNotFound", err)
	}
	if _, err := v.GetByFingerprint(ctx, "acme", "fp_d"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("GetByFingerprint after Delete err = %v, want ErrNotFound", err)
	}
	if err := v.Delete(ctx, "acme", "tok_d"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("second Delete err = %v, want ErrNotFound", err)
	}
	// The same card can be tokenized again, under a new token.
	again := mustPut(t, v, Sample("acme", "tok_d2", "fp_d"))
	if again.Token != "tok_d2" {
		t.Errorf("re-added card got token %q, want tok_d2", again.Token)
	}
}

func testConcurrentSame(t *testing.T, v vault.Vault) {
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		tokens  = map[string]bool{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stored, c, err := v.Put(context.Background(), Sample("acme", fmt.Sprintf("tok_c%d", i), "fp_shared"))
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c {
				created++
			}
			tokens[stored.Token] = true
		}()
	}
	wg.Wait()
	if created != 1 || len(tokens) != 1 {
		t.Fatalf("%d concurrent Puts of one card: created %d records, returned tokens %v; want exactly one", n, created, tokens)
	}
}

func testConcurrentDistinct(t *testing.T, v vault.Vault) {
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := Sample("acme", fmt.Sprintf("tok_%03d", i), fmt.Sprintf("fp_%03d", i))
			if _, created, err := v.Put(context.Background(), rec); err != nil || !created {
				t.Errorf("Put %d: created %v, err %v", i, created, err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		got, err := v.GetByFingerprint(context.Background(), "acme", fmt.Sprintf("fp_%03d", i))
		if err != nil {
			t.Fatalf("card %d lost: %v", i, err)
		}
		if want := fmt.Sprintf("tok_%03d", i); got.Token != want {
			t.Fatalf("card %d has token %q, want %q", i, got.Token, want)
		}
	}
}

// Two writers that read the same version: the second must not overwrite
// the first's change.
func testUpdateConflict(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	stored := mustPut(t, v, Sample("acme", "tok_c", "fp_c"))
	first, second := stored, stored
	first.Network.Status = "SUSPENDED"
	second.Network.Status = "DELETED"
	if _, err := v.Update(ctx, first); err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if _, err := v.Update(ctx, second); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("second Update from the same version: err = %v, want ErrConflict", err)
	}
	got, err := v.Get(ctx, "acme", "tok_c")
	if err != nil {
		t.Fatal(err)
	}
	if got.Network.Status != "SUSPENDED" || got.Version != stored.Version+1 {
		t.Errorf("after the conflict: status %s version %d, want SUSPENDED %d", got.Network.Status, got.Version, stored.Version+1)
	}
	// Read again, decide again: now it goes through.
	got.Network.Status = "DELETED"
	if _, err := v.Update(ctx, got); err != nil {
		t.Errorf("Update from the current version: %v", err)
	}

	// Concurrent read-modify-write loops: every increment lands once.
	const writers, rounds = 4, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				for {
					rec, err := v.Get(ctx, "acme", "tok_c")
					if err != nil {
						t.Error(err)
						return
					}
					rec.Last4 = fmt.Sprintf("%04d", w)
					if _, err := v.Update(ctx, rec); err == nil {
						break
					} else if !errors.Is(err, vault.ErrConflict) {
						t.Error(err)
						return
					}
					vault.Invalidate(v, "acme", "tok_c")
				}
			}
		})
	}
	wg.Wait()
	final, err := v.Get(ctx, "acme", "tok_c")
	if err != nil {
		t.Fatal(err)
	}
	if want := stored.Version + 2 + writers*rounds; final.Version != want {
		t.Errorf("after %d successful updates Version = %d, want %d", writers*rounds, final.Version, want)
	}
}

func testGetByNetworkToken(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	a := mustPut(t, v, Sample("acme", "tok_n1", "fp_n1")) // Network.ID nt_tok_n1
	mustPut(t, v, Sample("other", "tok_n2", "fp_n2"))
	got, err := v.GetByNetworkToken(ctx, "builtin", "nt_tok_n1")
	if err != nil {
		t.Fatalf("GetByNetworkToken: %v", err)
	}
	sameRecord(t, "GetByNetworkToken", got, a)
	if got, err := v.GetByNetworkToken(ctx, "builtin", "nt_tok_n2"); err != nil || got.Tenant != "other" {
		t.Errorf("another tenant's network token: %s %v", got.Tenant, err)
	}
	if _, err := v.GetByNetworkToken(ctx, "juspay", "nt_tok_n1"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("another provider's id: err = %v, want ErrNotFound", err)
	}
	if _, err := v.GetByNetworkToken(ctx, "builtin", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("empty id: err = %v, want ErrNotFound", err)
	}
	// A re-provisioned token moves the index; a deleted record leaves it.
	next := a
	next.Network.ID = "nt_new"
	if _, err := v.Update(ctx, next); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetByNetworkToken(ctx, "builtin", "nt_tok_n1"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("old id after Update: err = %v, want ErrNotFound", err)
	}
	if got, err := v.GetByNetworkToken(ctx, "builtin", "nt_new"); err != nil || got.Token != "tok_n1" {
		t.Errorf("new id after Update: %s %v", got.Token, err)
	}
	if err := v.Delete(ctx, "acme", "tok_n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetByNetworkToken(ctx, "builtin", "nt_new"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("after Delete: err = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, v vault.Vault) {
	ctx := context.Background()
	const n = 7
	for i := range n {
		mustPut(t, v, Sample("acme", fmt.Sprintf("tok_%02d", i), fmt.Sprintf("fp_%02d", i)))
	}
	mustPut(t, v, Sample("other", "tok_x", "fp_x"))
	var seen []string
	opts := vault.ListOptions{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("List never ended")
		}
		page, err := v.List(ctx, "acme", opts)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page.Records) > 3 {
			t.Fatalf("page of %d records, limit 3", len(page.Records))
		}
		for _, r := range page.Records {
			if r.Tenant != "acme" {
				t.Errorf("List(acme) returned a record of %s", r.Tenant)
			}
			seen = append(seen, r.Token)
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	if len(seen) != n {
		t.Fatalf("List returned %d records over its pages, want %d: %v", len(seen), n, seen)
	}
	for i, tok := range seen {
		if want := fmt.Sprintf("tok_%02d", i); tok != want {
			t.Errorf("record %d = %s, want %s (token order)", i, tok, want)
		}
	}
	if page, err := v.List(ctx, "nobody", vault.ListOptions{}); err != nil || len(page.Records) != 0 || page.Next != "" {
		t.Errorf("List of an empty tenant = %d records, next %q, %v", len(page.Records), page.Next, err)
	}
}
