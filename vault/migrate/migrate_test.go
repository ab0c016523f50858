package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/apitest"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/boltvault"
	"github.com/tokengate/tokengate/vault/migrate"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

func openPG(t *testing.T) *pgvault.Vault {
	t.Helper()
	pg, err := pgvault.Open(context.Background(), vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// fill stores n synthetic records spread over three tenants (so pages cross
// tenant boundaries), every third one updated once (version 2), and
// returns them as stored.
func fill(t *testing.T, v vault.Vault, n int) []vault.Record {
	t.Helper()
	ctx := context.Background()
	var out []vault.Record
	for i := range n {
		tenant := []string{"acme", "globex", "initech"}[i%3]
		rec := vaulttest.Sample(tenant, fmt.Sprintf("tok_%04d", i), fmt.Sprintf("fp_%04d", i))
		rec.Sealed = append(rec.Sealed, byte(i), byte(i>>8))
		if i%5 == 0 {
			rec.Metadata = nil
			rec.Network = vault.NetworkToken{}
		}
		stored, created, err := v.Put(ctx, rec)
		if err != nil || !created {
			t.Fatalf("Put %d: created %v, %v", i, created, err)
		}
		if i%3 == 0 {
			stored.Network.Status = "SUSPENDED"
			if stored, err = v.Update(ctx, stored); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, stored)
	}
	return out
}

// exportAll reads every record and state entry of v.
func exportAll(t *testing.T, v migrate.Backend) ([]vault.Record, []vault.StateEntry) {
	t.Helper()
	ctx := context.Background()
	var recs []vault.Record
	for after := (vault.RecordKey{}); ; {
		page, err := v.Export(ctx, after, 13)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		recs = append(recs, page...)
		after = vault.RecordKey{Tenant: page[len(page)-1].Tenant, Token: page[len(page)-1].Token}
	}
	var state []vault.StateEntry
	for after := (vault.StateKey{}); ; {
		page, err := v.ExportState(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		state = append(state, page...)
		after = page[len(page)-1].StateKey
	}
	return recs, state
}

func bv(s string) *body.Value { return &body.Value{Path: "x", Raw: s, IsString: true} }

// TestMigrateRoundTrip: bbolt -> PostgreSQL -> a new bbolt file gives back
// every record field by field (versions and timestamps included) and every
// state entry byte for byte; a card tokenized before still opens with the
// original keys, and its network token's number is derived again from the
// state that came along.
func TestMigrateRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := apitest.NewStack(t)
	card, _, err := s.Tokenizer.Store(ctx, "acme", rules.FormatPrefixed, "tok_", tokenize.Card{Number: bv("4111111111111111"), ExpMonth: bv("03"), ExpYear: bv("2030")})
	if err != nil {
		t.Fatal(err)
	}
	if card.Network.ID == "" || card.Network.Provider != "builtin" {
		t.Fatalf("the card got no builtin network token: %+v", card.Network)
	}
	before, err := s.Builtin.Get(ctx, card.Network.ID)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s.Bolt, 150)
	wantRecs, wantState := exportAll(t, s.Bolt)
	if len(wantRecs) != 151 || len(wantState) == 0 {
		t.Fatalf("source: %d records, %d state entries", len(wantRecs), len(wantState))
	}

	pg := openPG(t)
	rep, err := migrate.Run(ctx, s.Bolt, pg, migrate.Options{BatchSize: 7})
	if err != nil || !rep.OK() || rep.Source != 151 || rep.Copied != 151 || rep.StateCopied != int64(len(wantState)) || rep.Found != 151 {
		t.Fatalf("bolt -> postgres: %+v, %v", rep, err)
	}
	back := vaulttest.OpenBolt(t)
	rep, err = migrate.Run(ctx, pg, back, migrate.Options{BatchSize: 11})
	if err != nil || !rep.OK() || rep.Copied != 151 || rep.StateCopied != int64(len(wantState)) {
		t.Fatalf("postgres -> bolt: %+v, %v", rep, err)
	}

	gotRecs, gotState := exportAll(t, back)
	if !reflect.DeepEqual(gotRecs, wantRecs) {
		for i := range min(len(gotRecs), len(wantRecs)) {
			if !reflect.DeepEqual(gotRecs[i], wantRecs[i]) {
				t.Fatalf("record %d after the trip:\n got %+v\nwant %+v", i, gotRecs[i], wantRecs[i])
			}
		}
		t.Fatalf("%d records after the trip, want %d", len(gotRecs), len(wantRecs))
	}
	if !reflect.DeepEqual(gotState, wantState) {
		t.Fatalf("state after the trip differs: %d entries, want %d", len(gotState), len(wantState))
	}
	pgRecs, pgState := exportAll(t, pg)
	if len(pgRecs) != len(wantRecs) || !reflect.DeepEqual(pgState, wantState) {
		t.Fatalf("PostgreSQL holds %d records and %d state entries", len(pgRecs), len(pgState))
	}

	// The card opens with the keys it was sealed with.
	got, err := back.Get(ctx, "acme", card.Token)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := s.Keys.Open(got.Tenant, got.Fingerprint, got.Token, got.Sealed)
	if err != nil || secrets.PAN != "4111111111111111" || secrets.DPAN != before.DPAN {
		t.Fatalf("the migrated card does not open as before (err %v)", err)
	}
	// The builtin service over the migrated state finds its token.
	builtin, err := network.NewBuiltin(network.BuiltinConfig{Key: s.Keys.DeriveKey("test")}, back.KV("network_tokens"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := builtin.Get(ctx, card.Network.ID)
	if err != nil || after != before {
		t.Fatalf("the network token after the trip: %v (same: %v)", err, after == before)
	}
}

// TestMigrateInterruptedThenRerun: a run cancelled after some batches
// leaves what it copied; the next run copies the rest and counts the first
// run's records as present; a third copies nothing.
func TestMigrateInterruptedThenRerun(t *testing.T) {
	targets := map[string]func(t *testing.T) migrate.Target{
		"postgres": func(t *testing.T) migrate.Target { return openPG(t) },
		"bolt":     func(t *testing.T) migrate.Target { return vaulttest.OpenBolt(t) },
	}
	for name, open := range targets {
		t.Run(name, func(t *testing.T) {
			src := vaulttest.OpenBolt(t)
			fill(t, src, 100)
			if err := src.KV("network_tokens").SaveAll(context.Background(), map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil {
				t.Fatal(err)
			}
			dst := open(t)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rep, err := migrate.Run(ctx, src, dst, migrate.Options{BatchSize: 10, Progress: func(r migrate.Report) {
				if r.Copied >= 30 {
					cancel()
				}
			}})
			if !errors.Is(err, context.Canceled) || rep.Copied != 30 || rep.Verified {
				t.Fatalf("interrupted run: %+v, %v", rep, err)
			}

			rep, err = migrate.Run(context.Background(), src, dst, migrate.Options{BatchSize: 10})
			if err != nil || rep.Copied != 70 || rep.Present != 30 || rep.Conflicts != 0 || rep.StateCopied != 2 || rep.Checked != 100 || rep.Found != 100 {
				t.Fatalf("rerun: %+v, %v", rep, err)
			}

			rep, err = migrate.Run(context.Background(), src, dst, migrate.Options{})
			if err != nil || rep.Copied != 0 || rep.Present != 100 || rep.StateCopied != 0 || rep.StatePresent != 2 || !rep.OK() {
				t.Fatalf("third run: %+v, %v", rep, err)
			}
		})
	}
}

// TestMigrateConflict: a target record under the same token with other
// content, and the same card under another token, are conflicts: named by
// token in the summary, left as they were, and the run fails; so is a state
// entry holding other bytes.
func TestMigrateConflict(t *testing.T) {
	ctx := context.Background()
	src := vaulttest.OpenBolt(t)
	fill(t, src, 3) // tok_0000 (acme), tok_0001 (globex), tok_0002 (initech)
	if err := src.KV("network_tokens").Save(ctx, "nt_1", []byte("source state")); err != nil {
		t.Fatal(err)
	}
	dst := openPG(t)
	sameToken := vaulttest.Sample("acme", "tok_0000", "fp_other")
	sameToken.Sealed = []byte("TARGET-SEALED")
	sameCard := vaulttest.Sample("globex", "tok_elsewhere", "fp_0001")
	for _, rec := range []vault.Record{sameToken, sameCard} {
		if _, _, err := dst.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.KV("network_tokens").Save(ctx, "nt_1", []byte("target state")); err != nil {
		t.Fatal(err)
	}

	rep, err := migrate.Run(ctx, src, dst, migrate.Options{})
	if !errors.Is(err, migrate.ErrIncomplete) || rep.OK() {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	if rep.Copied != 1 || rep.Conflicts != 2 || rep.StateConflicts != 1 || rep.Checked != 3 || rep.Found != 1 {
		t.Fatalf("report %+v", rep)
	}
	want := []vault.RecordKey{{Tenant: "acme", Token: "tok_0000"}, {Tenant: "globex", Token: "tok_0001"}}
	if !reflect.DeepEqual(rep.Conflicting, want) {
		t.Fatalf("conflicting = %v, want %v", rep.Conflicting, want)
	}
	var out bytes.Buffer
	rep.WriteSummary(&out)
	for _, s := range []string{`token "tok_0000"`, `token "tok_0001"`, "2 conflicts", "MISMATCH: 1 of 3"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "TARGET-SEALED") || strings.Contains(out.String(), "state") && strings.Contains(out.String(), "nt_1") {
		t.Errorf("summary shows data or state ids:\n%s", out.String())
	}
	// Nothing was overwritten.
	if got, err := dst.Get(ctx, "acme", "tok_0000"); err != nil || !vault.SameRecord(got, mustGet(t, dst, "acme", "tok_0000")) || string(got.Sealed) != "TARGET-SEALED" {
		t.Fatalf("the target's record changed: %v", err)
	}
	if _, err := dst.Get(ctx, "globex", "tok_0001"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the card was stored a second time in its tenant: %v", err)
	}
	if data, _ := dst.KV("network_tokens").Load(ctx, "nt_1"); string(data) != "target state" {
		t.Fatalf("state overwritten: %q", data)
	}
}

func mustGet(t *testing.T, v vault.Vault, tenant, token string) vault.Record {
	t.Helper()
	rec, err := v.Get(context.Background(), tenant, token)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestMigrateImportKeepsRecordsAsTheyAre: Import stores version and
// timestamps as given (Put would set them), on both backends.
func TestMigrateImportKeepsRecordsAsTheyAre(t *testing.T) {
	src := vaulttest.OpenBolt(t)
	want := fill(t, src, 4)[3] // updated: version 2, UpdatedAt after CreatedAt
	for name, dst := range map[string]migrate.Backend{"bolt": vaulttest.OpenBolt(t), "postgres": openPG(t)} {
		out, err := dst.Import(context.Background(), []vault.Record{want, want})
		if err != nil || !reflect.DeepEqual(out, []vault.ImportOutcome{vault.Imported, vault.AlreadyPresent}) {
			t.Fatalf("%s: Import = %v, %v", name, out, err)
		}
		got := mustGet(t, dst, want.Tenant, want.Token)
		if !vault.SameRecord(got, want) || got.Version != 2 {
			t.Fatalf("%s: imported %+v\nwant %+v", name, got, want)
		}
		if byNT, err := dst.GetByNetworkToken(context.Background(), want.Network.Provider, want.Network.ID); err != nil || byNT.Token != want.Token {
			t.Fatalf("%s: not found by its network token: %v", name, err)
		}
	}
}

var _ migrate.Backend = (*boltvault.Bolt)(nil)
