package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// TestBackgroundResealBolt and TestBackgroundResealPostgres: through a real
// Caddy, N cards are tokenized; the keyset is rotated; `keys disable` of the
// old key is refused while records use it, and for the primary; the gateway
// loads the rotated keyset and re-seals in the background while goroutines
// pay with the tokens; the re-seal is stopped mid-way by a reload (reseal
// off) and continues from its cursor after the next (it does not walk again
// what it did); every payment succeeds throughout; the metrics count N
// re-sealed and 0 remaining; `keys status` shows 0 records on the old key;
// `keys disable` then succeeds, and the gateway on the keyset without it
// still pays with every token.
func TestBackgroundResealBolt(t *testing.T) { testBackgroundReseal(t, "") }

func TestBackgroundResealPostgres(t *testing.T) {
	testBackgroundReseal(t, vaulttest.PostgresDatabase(t))
}

func testBackgroundReseal(t *testing.T, dsn string) {
	const n = 60
	g := &gateway{t: t, dir: t.TempDir()}
	where := "bolt:" + filepath.Join(g.dir, "vault.db")
	if dsn != "" {
		g.vault = "vault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"
		where = "postgres:" + dsn
	}
	keyset := filepath.Join(g.dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	old := loadKeysetForTest(t, keyset).PrimaryKeyID()
	global := func(reseal string) string { return "keyset_file " + keyset + "\n\t\t" + reseal }
	g.start(global(""), defaultSites)
	bodies := make([]string, n)
	for i := range n {
		in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(boundPAN(7000+i)))
		if in.status != http.StatusOK {
			t.Fatalf("tokenize %d: %d %s", i, in.status, in.body)
		}
		bodies[i] = in.body
	}
	pay := func(i int) error {
		for try := 0; ; try++ {
			req, _ := http.NewRequest(http.MethodPost, g.addr(outboundURL+"/payments"), strings.NewReader(bodies[i]))
			req.Header.Set("Content-Type", jsonCT)
			req.Header.Set("X-Tokengate-Api-Key", apiKeyA)
			resp, err := g.client().Do(req)
			if err != nil && (closedBeforeRequest(err) || strings.Contains(err.Error(), "server closed idle connection")) && try < 5 {
				continue // a reload closed an idle connection before it read the request (see gateway.do)
			}
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadGateway && try < 5 {
				// Detokenized, then the processor site (in the same Caddy)
				// closed the proxied connection as a reload replaced it:
				// Caddy's reload, not the re-seal. Sent again.
				continue
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get(InjectedHeader) == "" || strings.Contains(string(body), "tok_") {
				return fmt.Errorf("card %d: %d %q", i, resp.StatusCode, resp.Header.Get(InjectedHeader))
			}
			return nil
		}
	}
	payAll := func(when string) {
		t.Helper()
		for i := range n {
			if err := pay(i); err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
	}
	payAll("before the rotation")
	if err := caddy.Stop(); err != nil { // the bbolt file is locked while a gateway holds it
		t.Fatal(err)
	}

	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	primary := loadKeysetForTest(t, keyset).PrimaryKeyID()
	if primary == old {
		t.Fatal("rotate did not change the primary key")
	}
	id := func(k uint32) string { return strconv.FormatUint(uint64(k), 10) }
	if _, _, err := runTokengate(t, "keys", "disable", id(old), "--keyset", keyset, "--vault", where); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("key %d still seals %d records", old, n)) {
		t.Fatalf("keys disable while records use the key: %v", err)
	}
	if _, _, err := runTokengate(t, "keys", "disable", id(primary), "--keyset", keyset, "--vault", where); err == nil || !strings.Contains(err.Error(), "primary key") {
		t.Fatalf("keys disable of the primary key: %v", err)
	}
	out, _, err := runTokengate(t, "keys", "status", "--keyset", keyset, "--vault", where)
	if err != nil || !strings.Contains(out, fmt.Sprintf("key %d: %d records\n", old, n)) || !strings.Contains(out, fmt.Sprintf("key %d: 0 records (primary)", primary)) {
		t.Fatalf("keys status after rotate: %v\n%s", err, out)
	}

	// The rotated keyset, the re-seal off: the baseline of the metrics,
	// which are the process's.
	g.load(g.config(global("reseal off"), defaultSites))
	metric := func(series string) float64 { return metricValue(g.scrape(), series) }
	const resealed, current = `tokengate_reseal_records_total{result="resealed"}`, `tokengate_reseal_records_total{result="current"}`
	resealed0, current0 := metric(resealed), metric(current)
	waitMetric := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited too long for %s:\n%s\n%s", what, grepLines(g.scrape(), "tokengate_reseal"), grepLines(g.log(), "re-seal"))
			}
		}
	}

	// Payments all along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var paid atomic.Int64
	var failed atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i = (i + 4) % n {
				select {
				case <-stop:
					return
				default:
				}
				if err := pay(i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				paid.Add(1)
			}
		}()
	}

	// Slow enough (4 s for the lot) that the reload below lands mid-way on
	// a busy machine too.
	g.load(g.config(global("reseal {\n\t\t\trate 15\n\t\t}"), defaultSites))
	waitMetric("5 records re-sealed", func() bool { return metric(resealed)-resealed0 >= 5 })
	g.load(g.config(global("reseal off"), defaultSites)) // interrupted: the worker stops, its cursor saved
	mid := metric(resealed) - resealed0
	time.Sleep(300 * time.Millisecond)
	if after := metric(resealed) - resealed0; mid >= n || after != mid {
		t.Fatalf("the re-seal did not stop with its config: %v re-sealed, then %v", mid, after)
	}
	if r := metric("tokengate_reseal_remaining"); r != n-mid {
		t.Fatalf("tokengate_reseal_remaining = %v after %v of %d; want %v", r, mid, n, n-mid)
	}
	g.load(g.config(global("reseal {\n\t\t\trate 200\n\t\t}"), defaultSites))
	waitMetric("the resumed pass's end", func() bool { return strings.Contains(g.scrape(), "\ntokengate_reseal_remaining 0\n") })
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a payment during the re-seal failed: %v", err)
	}
	if paid.Load() == 0 {
		t.Fatal("no payment ran during the re-seal")
	}
	// Resumed, not redone: the records the first worker did were not walked
	// again (each would count as current).
	if c := metric(current) - current0; c != 0 {
		t.Fatalf("the second worker walked %v records the first had done; want 0 (resume from the cursor)", c)
	}
	if got := metric(resealed) - resealed0; got != n {
		t.Fatalf("re-sealed %v records; want %d", got, n)
	}
	payAll("after the re-seal")
	if strings.Contains(g.scrape(), boundPAN(7000)) {
		t.Fatal("a card number in /metrics")
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	out, _, err = runTokengate(t, "keys", "status", "--keyset", keyset, "--vault", where)
	if err != nil || !strings.Contains(out, fmt.Sprintf("key %d: 0 records\n", old)) || !strings.Contains(out, fmt.Sprintf("key %d: %d records (primary)", primary, n)) {
		t.Fatalf("keys status after the re-seal: %v\n%s", err, out)
	}
	if out, _, err = runTokengate(t, "keys", "disable", id(old), "--keyset", keyset, "--vault", where); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("keys disable after the re-seal: %v\n%s", err, out)
	}
	ks := loadKeysetForTest(t, keyset)
	if ks.HasKeyID(old) || !ks.HasKeyID(primary) {
		t.Fatalf("after disable the keyset holds %v", ks.KeyIDs())
	}
	// The gateway starts on the keyset without the old key (the vault no
	// longer lists it) and pays with every token.
	g.start(global(""), defaultSites)
	payAll("with the old key disabled")
}

func loadKeysetForTest(t *testing.T, path string) *keys.Keys {
	t.Helper()
	ks, _, err := keys.Load(keys.Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestResealCaddyfile: `reseal off` and `reseal { rate <n> }` in the
// tokengate option; a rate out of bounds or another word is refused, naming
// the option; a JSON rate out of bounds fails validation.
func TestResealCaddyfile(t *testing.T) {
	parse := func(body string) (*App, error) {
		a := new(App)
		return a, a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("tokengate {\n" + body + "\n}"))
	}
	if a, err := parse("reseal off"); err != nil || a.Reseal == nil || !a.Reseal.Off {
		t.Fatalf("reseal off: %+v, %v", a.Reseal, err)
	}
	if a, err := parse("reseal {\n rate 50\n}"); err != nil || a.Reseal == nil || a.Reseal.Rate != 50 || a.Reseal.Off {
		t.Fatalf("reseal rate: %+v, %v", a.Reseal, err)
	}
	for _, bad := range []string{"reseal {\n rate 0\n}", "reseal {\n rate 1e9\n}", "reseal {\n rate fast\n}", "reseal on", "reseal {\n speed 3\n}"} {
		if _, err := parse(bad); err == nil || !strings.Contains(err.Error(), "reseal") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := (&ResealConfig{Rate: -1}).validate(); err == nil {
		t.Error("a negative rate was accepted")
	}
	if err := (*ResealConfig)(nil).validate(); err != nil {
		t.Errorf("no reseal config: %v", err)
	}
}
