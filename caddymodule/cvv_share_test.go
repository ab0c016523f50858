package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestCVVStoreTenantShare: through a real Caddy with cvv_store memory
// { max_held 10; max_held_per_tenant 5 }, tenant_a's five checkouts with a
// CVV pass, its sixth gets 503 cvv_store_full naming max_held_per_tenant
// and reaches no merchant, and tenant_b's checkout (rules.yaml's
// other_tenant, /b/checkout) still has its CVV held: the store had room,
// only tenant_a's share was full. A reload with a larger share applies to
// the store it keeps.
func TestCVVStoreTenantShare(t *testing.T) {
	merchant, hits := countingMerchant(t)
	store := "cvv_store memory {\n\t\t\tmax_held 10\n\t\t\tmax_held_per_tenant %d\n\t\t}"
	sites := boundedSites(merchant.Listener.Addr().String())
	g := (&gateway{t: t}).start(strings.Replace(store, "%d", "5", 1), sites)
	for i := range 5 {
		if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(i))); r.status != http.StatusOK {
			t.Fatalf("tenant_a's checkout %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(5)))
	doc := decode(t, r.body)
	if r.status != http.StatusServiceUnavailable || str(doc, "error_code") != "cvv_store_full" ||
		!strings.Contains(str(doc, "error_message"), "cvv_store memory") || !strings.Contains(str(doc, "error_message"), "max_held_per_tenant") {
		t.Fatalf("tenant_a's 6th checkout: %d %s; want 503 cvv_store_full naming max_held_per_tenant", r.status, r.body)
	}
	if hits.Load() != 5 {
		t.Fatalf("the merchant got %d checkouts, want 5: the refused one was forwarded", hits.Load())
	}
	if strings.Contains(r.body, boundPAN(5)) || strings.Contains(r.body, `"`+testCVV+`"`) {
		t.Fatal("the answer holds card data")
	}

	if r := g.post(inboundURL+"/b/checkout", jsonCT, checkoutJSON(boundPAN(20))); r.status != http.StatusOK {
		t.Fatalf("tenant_b's checkout while tenant_a's share is full: %d %s", r.status, r.body)
	}
	m := g.scrape()
	for series, want := range map[string]float64{
		"tokengate_cvvs_held":                6, // tenant_a's 5 and tenant_b's 1
		"tokengate_cvv_store_capacity":       10,
		"tokengate_cvv_store_refusals_total": 1,
	} {
		if got := metricValue(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if log := g.log(); !strings.Contains(log, "max_held_per_tenant") || strings.Contains(log, boundPAN(5)) || strings.Contains(log, `"`+testCVV+`"`) {
		t.Fatal("the log does not name the tenant's share, or holds card data")
	}

	g.load(g.config(strings.Replace(store, "%d", "6", 1), sites))
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(6))); r.status != http.StatusOK {
		t.Fatalf("tenant_a after raising max_held_per_tenant to 6: %d %s", r.status, r.body)
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(7))); r.status != http.StatusServiceUnavailable {
		t.Fatalf("tenant_a's 7th CVV with a share of 6: %d %s, want 503", r.status, r.body)
	}
}

// TestCVVStoreTenantShareConfig: max_held_per_tenant is a number between 1
// and max_held, and 0 or absent is max_held (no share); errors name the
// field.
func TestCVVStoreTenantShareConfig(t *testing.T) {
	if _, err := adaptTokengate(t, "rules r.yaml\ncvv_store memory {\nmax_held_per_tenant some\n}"); err == nil ||
		!strings.Contains(err.Error(), `max_held_per_tenant "some": want a number of CVVs`) {
		t.Errorf("a word for max_held_per_tenant: %v", err)
	}
	for block, want := range map[string]string{
		"max_held 10\n\t\t\tmax_held_per_tenant 11": "max_held_per_tenant 11: want between 1 and max_held (10)",
		"max_held_per_tenant -1":                    "max_held_per_tenant -1: want between 1 and max_held (100000)",
	} {
		assertLoadError(t, `{
	tokengate {
		rules testdata/rules.yaml
		cvv_store memory {
			`+block+`
		}
	}
}`, want)
	}
	for raw, want := range map[string]int{
		`{"backend": "memory", "max_held": 10, "max_held_per_tenant": 4}`: 4,
		`{"backend": "memory", "max_held": 10}`:                           10,
		`{"backend": "memory", "max_held_per_tenant": 0}`:                 100_000,
	} {
		var m MemoryCVVStore
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := m.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil || m.MaxHeldPerTenant != want {
			t.Errorf("%s: max_held_per_tenant %d, %v; want %d", raw, m.MaxHeldPerTenant, err, want)
		}
	}
}
