package vaulttest

import (
	"context"
	"testing"
	"time"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
)

// Cards of the row-swap checks: A's and B's, in one tenant.
const (
	SwapPANA = "4111111111111111"
	SwapPANB = "5555555555554444"
)

// SwapThroughUpdate exchanges the sealed data and fingerprints of two records
// of a tenant with the vault's own writes, as someone with write access to
// the store would: after it, tokA's record holds tokB's sealed card and
// fingerprint and the other way round.
func SwapThroughUpdate(t testing.TB, v vault.Vault, tenant, tokA, tokB string) {
	t.Helper()
	ctx := context.Background()
	a, err := v.Get(ctx, tenant, tokA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Get(ctx, tenant, tokB)
	if err != nil {
		t.Fatal(err)
	}
	parked := b
	parked.Fingerprint = "parked-during-swap"
	if parked, err = v.Update(ctx, parked); err != nil {
		t.Fatal(err)
	}
	nextA := a
	nextA.Fingerprint, nextA.Sealed = b.Fingerprint, b.Sealed
	if _, err := v.Update(ctx, nextA); err != nil {
		t.Fatal(err)
	}
	nextB := parked
	nextB.Fingerprint, nextB.Sealed = a.Fingerprint, a.Sealed
	if _, err := v.Update(ctx, nextB); err != nil {
		t.Fatal(err)
	}
}

// PutCardPair stores A's and B's cards in tenant under tokA and tokB, each
// sealed by ks for its record, or in the first format (legacy) as releases
// before the token was bound did.
func PutCardPair(t testing.TB, v vault.Vault, ks *keys.Keys, tenant, tokA, tokB string, legacy bool) {
	t.Helper()
	for tok, pan := range map[string]string{tokA: SwapPANA, tokB: SwapPANB} {
		fp := ks.Fingerprint(tenant, pan)
		var sealed []byte
		var err error
		if legacy {
			sealed, err = ks.SealLegacyForTests(tenant, fp, keys.Secrets{PAN: pan})
		} else {
			sealed, err = ks.Seal(tenant, fp, tok, keys.Secrets{PAN: pan})
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := Sample(tenant, tok, fp)
		rec.Sealed = sealed
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// RowSwap proves that two records of one tenant swapped in the store do not
// pay with each other's card: after swap (which the backend's test does its
// own way, as an attacker on that store would), each token's record holds
// the other's fingerprint and sealed data, and opening it as detokenize
// does (the caller's tenant, the record's fingerprint, the token it was
// read under) fails, as for a record copied from another tenant.
func RowSwap(t *testing.T, v vault.Vault, swap func(t *testing.T, tenant, tokA, tokB string)) {
	ks := Keys(t)
	ctx := context.Background()
	const tenant = "acme"
	PutCardPair(t, v, ks, tenant, "tok_swap_a", "tok_swap_b", false)
	fpB := ks.Fingerprint(tenant, SwapPANB)
	swap(t, tenant, "tok_swap_a", "tok_swap_b")
	rec, err := v.Get(ctx, tenant, "tok_swap_a")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Fingerprint != fpB {
		t.Fatal("the swap did not take: token A's record does not hold B's fingerprint")
	}
	if rec.Token != "tok_swap_a" {
		t.Fatalf("the record read under tok_swap_a says it is %q", rec.Token)
	}
	if s, err := ks.Open(tenant, rec.Fingerprint, rec.Token, rec.Sealed); err == nil {
		if s.PAN == SwapPANB {
			t.Fatal("token A opens card B after the swap")
		}
		t.Fatal("token A's swapped record opens")
	}
	rec, err = v.Get(ctx, tenant, "tok_swap_b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Open(tenant, rec.Fingerprint, rec.Token, rec.Sealed); err == nil {
		t.Fatal("token B's swapped record opens")
	}
}

// LegacyReseal proves that records sealed before the token was bound still
// open, and that their next write through a cache with Reseal set moves
// them to the current format, bound to their token.
func LegacyReseal(t *testing.T, v vault.Vault) {
	ks := Keys(t)
	ctx := context.Background()
	const tenant = "acme"
	PutCardPair(t, v, ks, tenant, "tok_old_a", "tok_old_b", true)
	cache := vault.NewCache(v, time.Minute, 10)
	cache.Reseal = ks.Reseal
	rec, err := cache.Get(ctx, tenant, "tok_old_a")
	if err != nil {
		t.Fatal(err)
	}
	if !keys.NeedsReseal(rec.Sealed) {
		t.Fatal("the first-format record does not read as one")
	}
	if s, err := ks.Open(tenant, rec.Fingerprint, rec.Token, rec.Sealed); err != nil || s.PAN != SwapPANA {
		t.Fatalf("a first-format record does not open: %v", err)
	}
	rec.ExpYear = "2031" // an unrelated write
	stored, err := cache.Update(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Get(ctx, tenant, "tok_old_a")
	if err != nil {
		t.Fatal(err)
	}
	if keys.NeedsReseal(stored.Sealed) || keys.NeedsReseal(again.Sealed) {
		t.Fatal("the record was not re-sealed on its write")
	}
	if s, err := ks.Open(tenant, again.Fingerprint, again.Token, again.Sealed); err != nil || s.PAN != SwapPANA {
		t.Fatalf("the re-sealed record does not open: %v", err)
	}
	if _, err := ks.Open(tenant, again.Fingerprint, "tok_old_b", again.Sealed); err == nil {
		t.Fatal("the re-sealed record opens under another token")
	}
	// Now A is current and B is not: moving B's old ciphertext and
	// fingerprint onto A is what the fallback allows until B is re-sealed
	// too; moving A's onto B is refused already.
	SwapThroughUpdate(t, v, tenant, "tok_old_a", "tok_old_b")
	b, err := v.Get(ctx, tenant, "tok_old_b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Open(tenant, b.Fingerprint, b.Token, b.Sealed); err == nil {
		t.Fatal("a re-sealed record moved onto another token opens")
	}
}
