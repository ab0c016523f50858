package purge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/cvv/cvvmem"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// fakeNetwork records deletes; fail makes them fail.
type fakeNetwork struct {
	network.Service
	deleted []string
	fail    bool
}

func (f *fakeNetwork) Name() string { return "fake" }
func (f *fakeNetwork) SetStatus(_ context.Context, id, status string) error {
	if f.fail {
		return errors.New("down")
	}
	if status == network.StatusDeleted {
		f.deleted = append(f.deleted, id)
	}
	return nil
}

type fixture struct {
	v     vault.Vault
	net   *fakeNetwork
	cvvs  *cvvmem.Store
	audit *audit.Memory
	e     *purge.Eraser
	kept  int
}

func newFixture(t *testing.T) *fixture {
	v := vaulttest.OpenBolt(t)
	f := &fixture{v: v, net: &fakeNetwork{}, cvvs: cvvmem.New(time.Minute), audit: &audit.Memory{}}
	lc := &lifecycle.Manager{Vault: v, Networks: network.Registry{"fake": f.net}}
	f.e = &purge.Eraser{Vault: v, Lifecycle: lc, CVVs: f.cvvs, Audit: f.audit, Observe: func(_ string, ok bool) {
		if !ok {
			f.kept++
		}
	}}
	return f
}

func (f *fixture) put(t *testing.T, token string, nt vault.NetworkToken, meta map[string]string) {
	t.Helper()
	rec := vault.Record{Tenant: "t", Token: token, Fingerprint: "fp_" + token, Sealed: []byte("sealed"), Brand: "visa", Last4: "1111", Network: nt, Metadata: meta}
	if _, _, err := f.v.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func TestEraseDeletesNetworkTokenThenRecordAndCVV(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "tok_1", vault.NetworkToken{Provider: "fake", ID: "nt_1", Status: network.StatusActive}, nil)
	if err := f.cvvs.PutCVV(ctx, "t", "tok_1", "123", time.Minute); err != nil {
		t.Fatal(err)
	}
	erased, err := f.e.Erase(ctx, "t", "tok_1", purge.ReasonPurge)
	if err != nil || !erased {
		t.Fatalf("erase: %v %v", erased, err)
	}
	if len(f.net.deleted) != 1 || f.net.deleted[0] != "nt_1" {
		t.Fatalf("network deletes: %v", f.net.deleted)
	}
	if _, err := f.v.Get(ctx, "t", "tok_1"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("record: %v", err)
	}
	if _, ok, _ := f.cvvs.TakeCVV(ctx, "t", "tok_1"); ok {
		t.Fatal("the CVV is still held")
	}
	es := f.audit.Entries()
	if len(es) != 1 || es[0].Action != audit.ActionPurge || es[0].Outcome != audit.OutcomeOK || es[0].Tenant != "t" ||
		len(es[0].Tokens) != 1 || es[0].Tokens[0].Token != "tok_1" || es[0].Detail["reason"] != purge.ReasonPurge {
		t.Fatalf("audit: %+v", es)
	}
	// Again: nothing to do, no error.
	if erased, err := f.e.Erase(ctx, "t", "tok_1", purge.ReasonPurge); err != nil || erased {
		t.Fatalf("erase again: %v %v", erased, err)
	}
}

func TestEraseKeepsCardWhenNetworkOrAuditFails(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "tok_1", vault.NetworkToken{Provider: "fake", ID: "nt_1", Status: network.StatusActive}, nil)
	f.put(t, "tok_2", vault.NetworkToken{Provider: "gone", ID: "nt_2", Status: network.StatusActive}, nil)
	f.net.fail = true
	if _, err := f.e.Erase(ctx, "t", "tok_1", purge.ReasonRetention); !errors.Is(err, purge.ErrNetworkToken) || strings.Contains(err.Error(), "sealed") {
		t.Fatalf("network down: %v", err)
	}
	if _, err := f.e.Erase(ctx, "t", "tok_2", purge.ReasonRetention); !errors.Is(err, purge.ErrNetworkToken) {
		t.Fatalf("service not configured: %v", err)
	}
	if f.kept != 2 {
		t.Fatalf("kept counted %d", f.kept)
	}
	f.net.fail = false
	f.audit.Err = errors.New("sink down")
	if _, err := f.e.Erase(ctx, "t", "tok_1", purge.ReasonRetention); err == nil {
		t.Fatal("erased without an audit entry")
	}
	for _, tok := range []string{"tok_1", "tok_2"} {
		if _, err := f.v.Get(ctx, "t", tok); err != nil {
			t.Fatalf("%s was not kept: %v", tok, err)
		}
	}
}

func TestSweepErasesOnlyExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	old := now.AddDate(-2, 0, 0).UTC().Format("2006-01-02")
	f.put(t, "tok_old", vault.NetworkToken{}, map[string]string{vault.LastUsedKey: old})
	f.put(t, "tok_new", vault.NetworkToken{}, map[string]string{vault.LastUsedKey: now.UTC().Format("2006-01-02")})
	f.put(t, "tok_fresh", vault.NetworkToken{}, nil) // created now, never used
	sw := &purge.Sweeper{Eraser: f.e, Records: f.v.(vault.Exporter), Policy: purge.Policy{Default: 365 * 24 * time.Hour}, Rate: 1000}
	rep, err := sw.Sweep(ctx)
	if err != nil || rep.Walked != 3 || rep.Erased != 1 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	if _, err := f.v.Get(ctx, "t", "tok_old"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatal("the old card stayed")
	}
	// A tenant kept forever.
	f.put(t, "tok_old2", vault.NetworkToken{}, map[string]string{vault.LastUsedKey: old})
	sw.Policy.Tenants = map[string]time.Duration{"t": 0}
	if rep, err := sw.Sweep(ctx); err != nil || rep.Erased != 0 {
		t.Fatalf("kept forever: %+v %v", rep, err)
	}
}

func TestTouchingWritesOncePerDay(t *testing.T) {
	v := vaulttest.OpenBolt(t)
	ctx := context.Background()
	day := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	tv := &vault.Touching{Vault: v, Now: func() time.Time { return day }}
	if _, _, err := v.Put(ctx, vault.Record{Tenant: "t", Token: "tok", Fingerprint: "fp", Sealed: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := tv.Get(ctx, "t", "tok"); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := v.Get(ctx, "t", "tok")
	if rec.Version != 2 || rec.Metadata[vault.LastUsedKey] != "2026-01-02" || !vault.LastUsed(rec).Equal(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after three reads on one day: version %d, %v", rec.Version, rec.Metadata)
	}
	if _, err := tv.Get(vault.WithoutTouch(ctx), "t", "tok"); err != nil {
		t.Fatal(err)
	}
	day = day.AddDate(0, 0, 1)
	if _, _, err := tv.Put(ctx, vault.Record{Tenant: "t", Token: "tok2", Fingerprint: "fp", Sealed: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	rec, _ = v.Get(ctx, "t", "tok")
	if rec.Version != 3 || rec.Metadata[vault.LastUsedKey] != "2026-01-03" {
		t.Fatalf("tokenized again the next day: version %d, %v", rec.Version, rec.Metadata)
	}
}

// A record stored before uses were recorded gets its first day from the
// sweep instead of being judged by its creation.
func TestSweepStampsRecordsWithoutADay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "tok_legacy", vault.NetworkToken{}, nil)
	sw := &purge.Sweeper{Eraser: f.e, Records: f.v.(vault.Exporter), Policy: purge.Policy{Default: time.Hour}, Rate: 1000}
	if rep, err := sw.Sweep(ctx); err != nil || rep.Erased != 0 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	rec, err := f.v.Get(ctx, "t", "tok_legacy")
	if err != nil || rec.Metadata[vault.LastUsedKey] != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("the record's day: %v %v", rec.Metadata, err)
	}
}
