package caddymodule

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
)

// TestAttack19RetentionShortPeriodKeepsFreshCard: the Caddyfile takes a
// period in hours ("12h"); the last use is kept to the day. A card tokenized
// and paid with a moment ago carries today's day, read as today 00:00 UTC,
// so with a period shorter than the time since midnight the sweep erased it
// at once (its network token deleted). A card is kept at least its period
// after its last use.
func TestAttack19RetentionShortPeriodKeepsFreshCard(t *testing.T) {
	now := time.Now().UTC()
	if since := now.Sub(now.Truncate(24 * time.Hour)); since < 70*time.Minute {
		t.Skipf("%s since midnight UTC: this test needs more than the 1h period", since)
	}
	global := "retention {\n\t\t\tdefault 1h\n\t\t\tsweep_interval 100ms\n\t\t\trate 1000\n\t\t}"
	g := (&gateway{t: t}).start(global, defaultSites)
	before := testutil.ToFloat64(purgedRecords.WithLabelValues("retention"))
	body, tok := tokenizeCard(t, g, visaPAN)
	if !pays(t, g, body) {
		t.Fatal("a fresh card does not pay")
	}
	time.Sleep(800 * time.Millisecond) // several sweeps
	if n := testutil.ToFloat64(purgedRecords.WithLabelValues("retention")) - before; n != 0 {
		t.Errorf("the sweep erased %v card(s) used a moment ago (period 1h)", n)
	}
	if _, err := backendRecord(t, g, tok); err != nil {
		t.Fatalf("a card tokenized and used a moment ago is gone under a 1h retention: %v", err)
	}
	if !pays(t, g, body) {
		t.Fatal("a card used a moment ago no longer pays")
	}
}

// TestAttack19PurgeRateOutOfRange: a careless operator asks for a purge "as
// fast as possible" (--rate 2000000000): a second divided by it is 0 and
// the pacer's ticker panicked; a negative rate was taken as the default.
// The rate is checked with the target, naming the field.
func TestAttack19PurgeRateOutOfRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := vault.Record{Tenant: "tenant_a", Token: "tok_a", Fingerprint: "fpa", Sealed: []byte("sealed"), Brand: "visa", Last4: "1111"}
	if _, _, err := b.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, rate := range []string{"2000000000", "-5"} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("purge --rate %s panicked: %v", rate, p)
				}
			}()
			out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--rate", rate, "--vault", "bolt:"+path)
			if err == nil || !strings.Contains(err.Error(), "rate") {
				t.Errorf("purge --rate %s: err %v, want a refusal naming rate\n%s", rate, err, out)
			}
		}()
	}
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Get(context.Background(), "tenant_a", "tok_a"); err != nil {
		t.Fatalf("a refused purge erased: %v", err)
	}
}

// TestAttack19PurgeOtherTenantsTokens: a purge for tenant_b naming
// tenant_a's tokens (a hostile or mistaken token list), or a selection
// left empty, erases nothing of tenant_a's. Held: the tokens are read
// under the purge's tenant, and a purge must say what it erases.
func TestAttack19PurgeOtherTenantsTokens(t *testing.T) {
	g := (&gateway{t: t}).start("", defaultSites)
	addr := g.addr("localhost:2999")
	body, tok := tokenizeCard(t, g, visaPAN)
	out, errOut, err := runTokengate(t, "purge", "--tenant", "tenant_b", "--tokens", tok+",", "--address", addr)
	if err != nil || !strings.Contains(out, "0 selected, 0 erased") {
		t.Fatalf("cross-tenant purge: %v\n%s\n%s", err, out, errOut)
	}
	if _, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", ",", "--address", addr); err == nil {
		t.Fatal("a purge with an empty token list was not refused")
	}
	if !pays(t, g, body) {
		t.Fatal("tenant_a's card was erased by another tenant's purge")
	}
}
