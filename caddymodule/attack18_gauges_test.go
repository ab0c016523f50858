package caddymodule

import (
	"net/http"
	"testing"
)

// TestAttackRefusedReloadKeepsGauges: a reload that the app's Start
// refuses (here a keyset that lacks the vault's key: the running config
// keeps serving) had already pointed the gauges at the refused config:
// tokengate_cvvs_held read nothing for the CVVs the running gateway holds,
// until the next reload that started.
func TestAttackRefusedReloadKeepsGauges(t *testing.T) {
	pathA, ksA := newKeyset(t, "a.json")
	pathB, _ := newKeyset(t, "b.json")
	g := &gateway{t: t, dir: t.TempDir()}
	g.start("keyset_file "+pathA, defaultSites)
	if in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); in.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	before := metricValue(g.scrape(), "tokengate_cvvs_held")
	if before < 1 {
		t.Fatalf("tokengate_cvvs_held %v before the reload; want the CVV held", before)
	}
	g.loadError(g.config("keyset_file "+pathB, defaultSites), "does not hold key "+keyID(ksA.PrimaryKeyID()))
	if after := metricValue(g.scrape(), "tokengate_cvvs_held"); after != before {
		t.Fatalf("tokengate_cvvs_held %v after a refused reload, %v before: the running config's gauge was dropped", after, before)
	}
}
