package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/vault"
)

// boundedSites puts a merchant that counts what reaches it behind the
// tokenize handler, so a test can tell that a refused card was not
// forwarded.
func boundedSites(merchant string) string {
	return `
:9080 {
	tokenize
	reverse_proxy ` + merchant + `
}
`
}

// countingMerchant echoes the body and the Tokengate-Cvv-Not-Held header,
// counting the requests it got.
func countingMerchant(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Merchant-Saw-Cvv-Not-Held", r.Header.Get(CVVNotHeldHeader))
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// boundPAN is a Luhn-valid Visa number unique for i.
func boundPAN(i int) string {
	head := fmt.Sprintf("453909%09d", i)
	return head + string(card.LuhnDigit(head))
}

// TestCVVStoreMaxHeld: through a real Caddy with cvv_store memory
// { max_held 5 }, five checkouts with a CVV pass; the sixth gets 503
// cvv_store_full naming the store and reaches no merchant; a rule set with
// cvv_store_down drop forwards the card without its CVV, saying so; the
// metrics read the bound, what is held and the refusals.
func TestCVVStoreMaxHeld(t *testing.T) {
	merchant, hits := countingMerchant(t)
	dir := t.TempDir()
	g := (&gateway{t: t, dir: dir}).start("cvv_store memory {\n\t\t\tmax_held 5\n\t\t}", boundedSites(merchant.Listener.Addr().String()))
	for i := range 5 {
		if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(i))); r.status != http.StatusOK {
			t.Fatalf("checkout %d: %d %s", i+1, r.status, r.body)
		}
	}
	if hits.Load() != 5 {
		t.Fatalf("the merchant got %d checkouts, want 5", hits.Load())
	}
	r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(5)))
	doc := decode(t, r.body)
	if r.status != http.StatusServiceUnavailable || str(doc, "error_code") != "cvv_store_full" ||
		!strings.Contains(str(doc, "error_message"), "cvv_store memory") || !strings.Contains(str(doc, "error_message"), "max_held") {
		t.Fatalf("the 6th checkout: %d %s; want 503 cvv_store_full naming the store", r.status, r.body)
	}
	if hits.Load() != 5 {
		t.Fatal("the refused checkout reached the merchant")
	}
	if strings.Contains(r.body, boundPAN(5)) || strings.Contains(r.body, testCVV+`"`) {
		t.Fatal("the answer holds card data")
	}
	// A card without a CVV needs no room.
	if r := g.post(inboundURL+"/checkout", jsonCT, `{"card":{"number":"`+boundPAN(6)+`","exp_month":"03","exp_year":"2030"}}`); r.status != http.StatusOK {
		t.Fatalf("a card without a CVV while the store is full: %d %s", r.status, r.body)
	}
	// cvv_store_down drop: forwarded without the CVV, the header naming it.
	r = g.post(inboundURL+"/degraded/checkout", jsonCT, checkoutJSON(boundPAN(7)))
	if doc := decode(t, r.body); r.status != http.StatusOK || get(doc, "card.cvc") != nil || r.header.Get("Merchant-Saw-Cvv-Not-Held") != "card.cvc" {
		t.Fatalf("cvv_store_down drop while full: %d %q %s", r.status, r.header.Get("Merchant-Saw-Cvv-Not-Held"), r.body)
	}

	// A card kept without consent is short-lived: counted in its own store.
	if r := g.post(inboundURL+"/noconsent/checkout", jsonCT, `{"card":{"number":"`+boundPAN(9)+`","exp_month":"03","exp_year":"2030"}}`); r.status != http.StatusOK {
		t.Fatalf("a card without consent: %d %s", r.status, r.body)
	}

	m := g.scrape()
	for series, want := range map[string]float64{
		"tokengate_cvv_store_capacity":                                5,
		"tokengate_cvvs_held":                                         5,
		"tokengate_cvv_store_refusals_total":                          2,
		"tokengate_short_lived_cards_held":                            1,
		"tokengate_short_lived_cards_capacity":                        vault.MaxShortLived,
		`tokengate_memory_capacity{cache="read_cache"}`:               100_000,
		`tokengate_memory_capacity{cache="network_states"}`:           100_000,
		`tokengate_memory_capacity{cache="network_idempotency_keys"}`: 100_000,
	} {
		if got := metricValue(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, cache := range []string{"read_cache", "network_states", "network_idempotency_keys"} {
		if got := metricValue(m, `tokengate_memory_entries{cache="`+cache+`"}`); got < 5 {
			t.Errorf("tokengate_memory_entries{cache=%q} = %v after eight new cards, want at least 5", cache, got)
		}
	}
	if log := g.log(); !strings.Contains(log, "cvv_store_full") || strings.Contains(log, boundPAN(5)) || strings.Contains(log, `"`+testCVV+`"`) {
		t.Fatal("the log does not tell of the full store, or holds card data")
	}

	// A reload with a larger bound applies to the store it keeps.
	g.load(g.config("cvv_store memory {\n\t\t\tmax_held 6\n\t\t}", boundedSites(merchant.Listener.Addr().String())))
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(8))); r.status != http.StatusOK {
		t.Fatalf("after raising max_held to 6: %d %s", r.status, r.body)
	}
	if got := metricValue(g.scrape(), "tokengate_cvv_store_capacity"); got != 6 {
		t.Errorf("capacity after the reload %v, want 6", got)
	}
}

// TestCVVStoreMaxHeldRefusedConfig: max_held must be a number from 1.
func TestCVVStoreMaxHeldRefusedConfig(t *testing.T) {
	for src, want := range map[string]string{
		"rules r.yaml\ncvv_store memory {\nmax_held lots\n}": `max_held "lots": want a number of CVVs`,
		"rules r.yaml\ncvv_store memory {\nmax_held\n}":      "Caddyfile:",
	} {
		if _, err := adaptTokengate(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one containing %q", src, err, want)
		}
	}
	assertLoadError(t, `{
	tokengate {
		rules `+"testdata/rules.yaml"+`
		cvv_store memory {
			max_held -1
		}
	}
}`, "max_held -1: want between 1 and 100000000")
}

// TestCVVFloodStaysBounded is a bounded flood of new cards, each with a
// CVV, through a real Caddy with max_held 1,000: the store never holds
// more than its bound, every card past it is refused with 503 and not
// forwarded, and the test logs the Go heap per new card and the read
// cache's share of it (runtime.MemStats; a measurement, not asserted).
// TOKENGATE_FLOOD_CARDS=<n> floods more cards, for a steadier number.
func TestCVVFloodStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 2,000 new cards")
	}
	const bound, clients = 1000, 8
	cards := 2000
	if n, err := strconv.Atoi(os.Getenv("TOKENGATE_FLOOD_CARDS")); err == nil && n > bound { // a longer measurement
		cards = n
	}
	merchant, hits := countingMerchant(t)
	g := (&gateway{t: t}).start(fmt.Sprintf("cvv_store memory {\n\t\t\tmax_held %d\n\t\t}", bound), boundedSites(merchant.Listener.Addr().String()))
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(100_000))); r.status != http.StatusOK { // warm up
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	before := heapNow()
	heldBefore := metricValue(g.scrape(), "tokengate_cvvs_held")

	var ok, full, other atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= cards; i = int(next.Add(1)) {
				r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(i)))
				switch {
				case r.status == http.StatusOK:
					ok.Add(1)
				case r.status == http.StatusServiceUnavailable && strings.Contains(r.body, `"cvv_store_full"`):
					full.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	after := heapNow()
	m := g.scrape()
	held := metricValue(m, "tokengate_cvvs_held")
	if held > bound || other.Load() != 0 || ok.Load()+full.Load() != int64(cards) {
		t.Fatalf("held %v (bound %d); %d tokenized, %d refused full, %d other answers", held, bound, ok.Load(), full.Load(), other.Load())
	}
	if int64(held)-int64(heldBefore) != ok.Load() || hits.Load() != ok.Load()+1 {
		t.Fatalf("%d tokenized, %d reached the merchant (1 warm-up), %v held before: the refused reached it, or the count is off", ok.Load(), hits.Load(), heldBefore)
	}
	if got := metricValue(m, "tokengate_cvv_store_refusals_total"); got != float64(full.Load()) {
		t.Errorf("refusals metric %v, want %d", got, full.Load())
	}
	grown := float64(int64(after) - int64(before))
	g.app().stack.Load().Cache.InvalidateAll()
	withoutCache := heapNow()
	for _, n := range g.app().networks {
		if o, ok := n.(observedNetwork); ok {
			if f, ok := o.Service.(interface{ Forget(string) }); ok {
				f.Forget("")
			}
		}
	}
	withoutStates := heapNow()
	perCard := func(b uint64) float64 { return float64(b) / float64(cards) }
	t.Logf("flood: %d new cards, %v CVVs held (bound %d), %d refused; Go heap grew %.1f MB, %.0f B per new card tokenized: %.0f B the vault read cache's record, %.0f B the network token's cached state, %.0f B the rest (held CVV, idempotency entry, buffers)",
		cards, held, bound, full.Load(), grown/1e6, grown/float64(cards), perCard(after-withoutCache), perCard(withoutCache-withoutStates), perCard(withoutStates-before))
	if fi, err := os.Stat(filepath.Join(g.dir, "vault.db")); err == nil {
		t.Logf("vault.db: %.1f MB for %d cards, %.0f B per card (bbolt maps the whole file; its pages count in RSS as they are read)",
			float64(fi.Size())/1e6, cards+1, float64(fi.Size())/float64(cards+1))
	}
}

// heapNow is the live Go heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCVVStoreMaxHeldJSON: the README's JSON for the memory store loads,
// and an absent max_held is the default.
func TestCVVStoreMaxHeldJSON(t *testing.T) {
	for raw, want := range map[string]int{
		`{"backend": "memory", "max_held": 100000, "sweep_interval": "10s"}`: 100000,
		`{"backend": "memory", "max_held": 7}`:                               7,
		`{"backend": "memory"}`:                                              cvvmem.DefaultMaxHeld,
	} {
		var m MemoryCVVStore
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := m.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil || m.MaxHeld != want {
			t.Errorf("%s: max_held %d, %v; want %d", raw, m.MaxHeld, err, want)
		}
	}
}

// TestStoreFullAnswers: each bounded store's refusal has its own 503, named;
// any other failure is not one of them.
func TestStoreFullAnswers(t *testing.T) {
	a := &App{cvvBackend: &RedisCVVStore{}}
	for err, code := range map[error]string{
		fmt.Errorf("tokenize: unavailable: holding cvv: %w", fmt.Errorf("%w: redis is at its maxmemory", cvv.ErrFull)): "cvv_store_full",
		fmt.Errorf("tokenize: unavailable: %w", vault.ErrShortLivedFull):                                               "short_lived_store_full",
	} {
		ge, ok := a.storeFull(err)
		if !ok || ge.status != http.StatusServiceUnavailable || ge.code != code {
			t.Fatalf("%v: %v %d %q, want 503 %q", err, ok, ge.status, ge.code, code)
		}
		if code == "cvv_store_full" && !strings.Contains(ge.message, "cvv_store redis") {
			t.Errorf("the answer does not name the store: %q", ge.message)
		}
	}
	if _, ok := a.storeFull(fmt.Errorf("tokenize: unavailable: %w", vault.ErrShortLivedQuota)); ok {
		t.Error("a pool's quota answered as a full store")
	}
}
