package caddymodule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
