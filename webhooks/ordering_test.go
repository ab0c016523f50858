package webhooks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/network"
)

// Issue 15 item 10, first sequence: suspended@T1 delivered late, after the
// record was written locally, then active@T1+1s. The receiver compared the
// event time with the record's updated_at and answered the second "stale",
// leaving the token suspended. Events are ordered by the last applied
// event's time now.
func TestBasisTheoryLateSuspensionThenActivation(t *testing.T) {
	r, v, key := setup(t)
	ctx := context.Background()
	status := func() string {
		rec, _ := v.Get(ctx, "acme", "tok_bt")
		return rec.Network.Status
	}
	t1 := time.Now().Add(-time.Minute) // the network decided a minute ago
	body, sig := btEvent(t, key, "network-token.updated", "suspended", t1)
	if code, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); code != 200 || !strings.Contains(out, "updated") || status() != network.StatusSuspended {
		t.Fatalf("late suspension: %d %s %s", code, out, status())
	}
	body, sig = btEvent(t, key, "network-token.updated", "active", t1.Add(time.Second))
	if code, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); code != 200 || !strings.Contains(out, "updated") || status() != network.StatusActive {
		t.Fatalf("activation one second later: %d %s, status %s (want updated, ACTIVE)", code, out, status())
	}
	// The suspension delivered again, late: it is older than what was
	// applied.
	body, sig = btEvent(t, key, "network-token.updated", "suspended", t1)
	if _, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); !strings.Contains(out, "stale") || status() != network.StatusActive {
		t.Fatalf("the suspension redelivered: %s %s", out, status())
	}
}

// Second sequence: deleted@T after an unrelated write of the record (the
// same card entered again with a new expiry) was answered "stale", and the
// deleted token kept paying.
func TestBasisTheoryDeletionAfterUnrelatedWrite(t *testing.T) {
	r, v, key := setup(t)
	ctx := context.Background()
	at := time.Now().Add(-time.Second)
	rec, err := v.Get(ctx, "acme", "tok_bt")
	if err != nil {
		t.Fatal(err)
	}
	rec.ExpYear = "2031"
	if rec, err = v.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if !rec.UpdatedAt.After(at) {
		t.Fatal("the unrelated write is not after the event (the test would prove nothing)")
	}
	body, sig := btEvent(t, key, "network-token.deleted", "inactive", at)
	if code, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); code != 200 || !strings.Contains(out, "updated") {
		t.Fatalf("deletion: %d %s", code, out)
	}
	if rec, _ = v.Get(ctx, "acme", "tok_bt"); rec.Network.Status != network.StatusDeleted {
		t.Fatalf("status %s after the deletion, want DELETED", rec.Network.Status)
	}
}

// A newer event that changes nothing is remembered all the same, so an older
// one delivered after it cannot undo it; the time is kept in the record (a
// new receiver, as after a restart or on another gateway, sees it).
func TestBasisTheoryEventTimeIsKept(t *testing.T) {
	r, v, key := setup(t)
	ctx := context.Background()
	t2 := time.Now().Add(-time.Minute)
	body, sig := btEvent(t, key, "network-token.updated", "active", t2)
	if _, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); !strings.Contains(out, "unchanged") {
		t.Fatalf("active while active: %s", out)
	}
	rec, _ := v.Get(ctx, "acme", "tok_bt")
	if !rec.Network.EventAt.Equal(t2) {
		t.Fatalf("EventAt = %v, want %v", rec.Network.EventAt, t2)
	}
	other := *r // another gateway, or this one after a restart
	body, sig = btEvent(t, key, "network-token.updated", "suspended", t2.Add(-time.Second))
	if _, out := send(other.BasisTheory, body, "BT-SIGNATURE", sig); !strings.Contains(out, "stale") {
		t.Fatalf("an older suspension after a newer activation: %s", out)
	}
	if rec, _ = v.Get(ctx, "acme", "tok_bt"); rec.Network.Status != network.StatusActive {
		t.Fatalf("status %s, want ACTIVE", rec.Network.Status)
	}
	// A duplicate of the applied event writes nothing.
	body, sig = btEvent(t, key, "network-token.updated", "active", t2)
	if _, out := send(r.BasisTheory, body, "BT-SIGNATURE", sig); !strings.Contains(out, "unchanged") {
		t.Fatalf("a duplicate: %s", out)
	}
	if again, _ := v.Get(ctx, "acme", "tok_bt"); again.Version != rec.Version {
		t.Fatalf("a duplicate wrote the record (version %d -> %d)", rec.Version, again.Version)
	}
}

// Juspay's events carry no time: an expiry earlier than the recorded one is
// a renewal delivered out of order and is ignored; a malformed one is
// refused, naming the field.
func TestJuspayExpiryOrder(t *testing.T) {
	r, v, _ := setup(t)
	ctx := context.Background()
	expiry := func() string {
		rec, _ := v.Get(ctx, "acme", "tok_jp")
		return rec.Network.ExpMonth + "/" + rec.Network.ExpYear
	}
	event := func(month, year string) string {
		return `{"token":{"card_reference":"token_abc","customer_id":"cust_1","expiry_month":"` + month + `","expiry_year":"` + year + `"}}`
	}
	if _, out := send(r.Juspay, event("05", "2032"), "Authorization", "s3cret"); !strings.Contains(out, "updated") || expiry() != "05/2032" {
		t.Fatalf("renewal: %s %s", out, expiry())
	}
	if _, out := send(r.Juspay, event("02", "2030"), "Authorization", "s3cret"); !strings.Contains(out, "stale") || expiry() != "05/2032" {
		t.Fatalf("an earlier expiry delivered late: %s %s", out, expiry())
	}
	code, out := send(r.Juspay, event("13", "2033"), "Authorization", "s3cret")
	if code != 400 || !strings.Contains(out, "expiry_month") || strings.Contains(out, "13") || expiry() != "05/2032" {
		t.Fatalf("a malformed month: %d %s %s", code, out, expiry())
	}
}
