package caddymodule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// resealPAN is the card of record i of the reseal tests.
func resealPAN(i int) string { return fmt.Sprintf("41111111%08d", i) }

// fillForReseal stores old first-format records (sealed before the token
// was bound) and current ones.
func fillForReseal(t *testing.T, v vault.Vault, ks *keys.Keys, old, current int) {
	t.Helper()
	for i := range old + current {
		token, pan := fmt.Sprintf("tok_%d", i), resealPAN(i)
		fp := ks.Fingerprint("acme", pan)
		var sealed []byte
		var err error
		if i < old {
			sealed, err = ks.SealLegacyForTests("acme", fp, keys.Secrets{PAN: pan})
		} else {
			sealed, err = ks.Seal("acme", fp, token, keys.Secrets{PAN: pan})
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := vaulttest.Sample("acme", token, fp)
		rec.Sealed = sealed
		if _, _, err := v.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// checkResealed opens every record with ks as detokenize does and wants it
// current (token bound, primary key).
func checkResealed(t *testing.T, v vault.Vault, ks *keys.Keys, n int) {
	t.Helper()
	for i := range n {
		token := fmt.Sprintf("tok_%d", i)
		rec, err := v.Get(context.Background(), "acme", token)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ks.Open("acme", rec.Fingerprint, token, rec.Sealed)
		if err != nil || s.PAN != resealPAN(i) || !ks.Current(rec.Sealed) {
			t.Fatalf("%s after reseal: current %v, %v", token, ks.Current(rec.Sealed), err)
		}
	}
}

// noCardData fails if any of the records' PANs is in the command's output.
func noCardData(t *testing.T, n int, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for i := range n {
			if strings.Contains(out, resealPAN(i)) {
				t.Fatal("the command printed a card number")
			}
		}
	}
}

// TestResealCommand: caddy tokengate reseal with real flags re-seals a
// bbolt vault's old records (3 of 5) with the token bound, prints counts
// and a progress bar and no card data; a second run re-seals nothing;
// after caddy tokengate rotate it moves every record to the new primary
// key; a vault in use and missing flags are clear errors.
func TestResealCommand(t *testing.T) {
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vault.db")
	b, err := boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fillForReseal(t, b, ks, 3, 2)
	b.Close()

	out, progress, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "records: 5 in the vault; 3 re-sealed, 2 already current, 0 deleted meanwhile, 0 unreadable") ||
		!strings.Contains(progress, "records") {
		t.Fatalf("first run: %v\n%s\n%s", err, out, progress)
	}
	noCardData(t, 5, out, progress)
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "0 re-sealed, 5 already current") {
		t.Fatalf("second run: %v\n%s", err, out)
	}

	// Rotation: every record moves to the new primary key.
	if _, _, err := runTokengate(t, "rotate", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path)
	if err != nil || !strings.Contains(out, "5 re-sealed, 0 already current") {
		t.Fatalf("after rotate: %v\n%s", err, out)
	}
	rotated, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	b, err = boltvault.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkResealed(t, b, rotated, 5)
	// Held by a gateway: said so.
	if _, _, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "bolt:"+path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a vault in use: %v", err)
	}
	b.Close()

	if _, _, err := runTokengate(t, "reseal", "--keyset", keyset); err == nil || !strings.Contains(err.Error(), "--vault") {
		t.Fatalf("no --vault: %v", err)
	}
	if _, _, err := runTokengate(t, "reseal", "--vault", "bolt:"+path); err == nil || !strings.Contains(err.Error(), "--keyset") {
		t.Fatalf("no --keyset: %v", err)
	}
	other := filepath.Join(dir, "other.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", other); err != nil {
		t.Fatal(err)
	}
	out, _, err = runTokengate(t, "reseal", "--keyset", other, "--vault", "bolt:"+path)
	if err == nil || !strings.Contains(out, "5 unreadable") {
		t.Fatalf("another keyset: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(path); len(data) == 0 {
		t.Fatal("vault file gone")
	}
}

// TestResealCommandPostgres: the same on PostgreSQL, while a gateway's
// connection keeps using the database; its records stay usable throughout
// and are re-sealed with compare-and-set writes.
func TestResealCommandPostgres(t *testing.T) {
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	dsn := vaulttest.PostgresDatabase(t)
	pg, err := pgvault.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	fillForReseal(t, pg, ks, 4, 1)
	out, progress, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "records: 5 in the vault; 4 re-sealed, 1 already current") || strings.Contains(out+progress, dsn) {
		t.Fatalf("postgres: %v\n%s", err, out)
	}
	noCardData(t, 5, out, progress)
	checkResealed(t, pg, ks, 5)
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "0 re-sealed, 5 already current") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}

// TestSealedRecordsThroughCaddy: through a real Caddy, a record sealed
// before the token was bound still pays, is re-sealed on its next write
// (the same card entered again with a later expiry), and two current
// records swapped in the file are refused as tampering without any card
// data reaching the processor (issue 15 item 12). With legacy_records
// refuse, a vault still holding old records does not load.
func TestSealedRecordsThroughCaddy(t *testing.T) {
	const mcPAN = "5555555555554444"
	dir := t.TempDir()
	keyset := filepath.Join(dir, "keyset.json")
	if _, _, err := runTokengate(t, "keygen", "--keyset", keyset); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "keyset_file "+keyset)
	inA := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	tokA := str(decode(t, inA.body), "card.number")
	inB := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(mcPAN))
	tokB := str(decode(t, inB.body), "card.number")
	backend := g.app().vault.(*BoltVault).bolt
	records := g.app().stack.Load().Records
	ctx := context.Background()
	pay := func(in reply) reply {
		return g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	}

	// A as the previous release sealed it, written behind the gateway's back.
	rec, err := backend.Get(ctx, "tenant_a", tokA)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := ks.Open("tenant_a", rec.Fingerprint, tokA, rec.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sealed, err = ks.SealLegacyForTests("tenant_a", rec.Fingerprint, secrets); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(records, "tenant_a", tokA)
	if out := pay(inA); out.status != 200 || out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("an old-format record does not pay: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	later := strings.Replace(checkoutJSON(visaPAN), `"exp_year":"2030"`, `"exp_year":"2031"`, 1)
	if again := g.post(inboundURL+"/checkout", jsonCT, later); str(decode(t, again.body), "card.number") != tokA {
		t.Fatalf("the same card again: %d", again.status)
	}
	if rec, err = backend.Get(ctx, "tenant_a", tokA); err != nil || rec.ExpYear != "2031" || keys.NeedsReseal(rec.Sealed) {
		t.Fatalf("the old record was not re-sealed on its write (exp %s, old format %v): %v", rec.ExpYear, keys.NeedsReseal(rec.Sealed), err)
	}
	if out := pay(inA); out.status != 200 || out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("the re-sealed record does not pay: %d", out.status)
	}

	// A and B swapped in the file: neither pays, nothing of either card
	// reaches the processor or the merchant.
	recB, err := backend.Get(ctx, "tenant_a", tokB)
	if err != nil {
		t.Fatal(err)
	}
	dpanB, err := ks.Open("tenant_a", recB.Fingerprint, tokB, recB.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	vaulttest.SwapThroughUpdate(t, backend, "tenant_a", tokA, tokB)
	vault.Invalidate(records, "tenant_a", tokA)
	vault.Invalidate(records, "tenant_a", tokB)
	for _, in := range []reply{inA, inB} {
		out := pay(in)
		if out.status < 500 {
			t.Fatalf("a swapped record paid: %d %q", out.status, out.header.Get(InjectedHeader))
		}
		for _, secret := range []string{visaPAN, mcPAN, dpanB.DPAN, secrets.DPAN} {
			if secret != "" && strings.Contains(out.body+fmt.Sprint(out.header), secret) {
				t.Fatal("card data in the answer to a swapped record")
			}
		}
	}
	wantRequestIDLogged(t, g, "does not open for it") // logged as possible tampering, joined to its request

	// legacy_records refuse with old records left: the config does not
	// load, and says to run reseal.
	oldDir := t.TempDir()
	b, err := boltvault.Open(filepath.Join(oldDir, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	fillForReseal(t, b, ks, 1, 0)
	b.Close()
	refusing := &gateway{t: t, dir: oldDir, logFile: filepath.Join(oldDir, "caddy.log")}
	// (Loaded with refusing's own ports: the routes are checked before the
	// vault is opened, at Start.)
	refusing.loadError(refusing.config("keyset_file "+keyset+"\n\t\tlegacy_records refuse", defaultSites), "caddy tokengate reseal")
}

// TestRowSwapPostgresThroughCaddy is issue 15 item 12 as it was found: a
// gateway on PostgreSQL, two cards of one tenant whose sealed data and
// fingerprints are swapped in SQL. Token A paid with card B's DPAN; now
// neither pays and nothing of either card leaves. Before that, caddy
// tokengate reseal runs beside the live gateway and re-seals an old-format
// record, which keeps paying; after the swap it names the two records.
func TestRowSwapPostgresThroughCaddy(t *testing.T) {
	const mcPAN, thirdPAN = "5555555555554444", "4539097887163333"
	dsn := vaulttest.PostgresDatabase(t)
	keyset := filepath.Join(t.TempDir(), "dev.json")
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + keyset + "\n\t\tvault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}"}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.load(g.config("", defaultSites))
	ins := map[string]reply{}
	tokens := map[string]string{}
	for _, pan := range []string{visaPAN, mcPAN, thirdPAN} {
		ins[pan] = g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
		tokens[pan] = str(decode(t, ins[pan].body), "card.number")
	}
	pay := func(pan string) reply {
		return g.post(outboundURL+"/payments", jsonCT, ins[pan].body, "X-Tokengate-Api-Key", apiKeyA)
	}
	ks, _, err := keys.Load(keys.Options{File: keyset})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	records := g.app().stack.Load().Records

	// The third card as the previous release sealed it.
	pg, err := pgvault.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rec, err := pg.Get(ctx, "tenant_a", tokens[thirdPAN])
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := ks.Open("tenant_a", rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sealed, err = ks.SealLegacyForTests("tenant_a", rec.Fingerprint, secrets); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	vault.Invalidate(records, "tenant_a", tokens[thirdPAN])
	if out := pay(thirdPAN); out.status != 200 || str(decode(t, out.body), "card.number") == tokens[thirdPAN] {
		t.Fatalf("an old-format record does not pay: %d", out.status)
	}
	out, _, err := runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err != nil || !strings.Contains(out, "records: 3 in the vault; 1 re-sealed, 2 already current") {
		t.Fatalf("reseal beside the gateway: %v\n%s", err, out)
	}
	vault.Invalidate(records, "tenant_a", tokens[thirdPAN])
	if out := pay(thirdPAN); out.status != 200 {
		t.Fatalf("the re-sealed record does not pay: %d", out.status)
	}
	if out := pay(visaPAN); out.status != 200 || out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("before the swap: %d %q", out.status, out.header.Get(InjectedHeader))
	}

	// The swap, in SQL, as the attack did it.
	conn := pgConn(t, dsn)
	a, b := tokens[visaPAN], tokens[mcPAN]
	var dpans []string
	for _, tok := range []string{a, b} {
		r, err := pg.Get(ctx, "tenant_a", tok)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ks.Open("tenant_a", r.Fingerprint, tok, r.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		dpans = append(dpans, s.DPAN)
	}
	for _, q := range []string{
		`UPDATE tokengate_records SET fingerprint = 'parked-' || token WHERE tenant = 'tenant_a' AND token IN ($1, $2)`,
		`UPDATE tokengate_records r SET fingerprint = o.data->>'fingerprint',
			data = jsonb_set(jsonb_set(r.data, '{sealed}', o.data->'sealed'), '{fingerprint}', o.data->'fingerprint')
			FROM tokengate_records o
			WHERE r.tenant = 'tenant_a' AND o.tenant = 'tenant_a' AND ((r.token = $1 AND o.token = $2) OR (r.token = $2 AND o.token = $1))`,
	} {
		if _, err := conn.Exec(ctx, q, a, b); err != nil {
			t.Fatal(err)
		}
	}
	vault.Invalidate(records, "tenant_a", a)
	vault.Invalidate(records, "tenant_a", b)
	for _, pan := range []string{visaPAN, mcPAN} {
		out := pay(pan)
		if out.status < 500 {
			t.Fatalf("a swapped record paid: %d %q", out.status, out.header.Get(InjectedHeader))
		}
		for _, secret := range append([]string{visaPAN, mcPAN}, dpans...) {
			if strings.Contains(out.body+fmt.Sprint(out.header), secret) {
				t.Fatal("card data in the answer to a swapped record")
			}
		}
	}
	out, _, err = runTokengate(t, "reseal", "--keyset", keyset, "--vault", "postgres:"+dsn)
	if err == nil || !strings.Contains(out, "2 unreadable") || !strings.Contains(out, "tenant_a "+a) {
		t.Fatalf("reseal after the swap: %v\n%s", err, out)
	}
}
