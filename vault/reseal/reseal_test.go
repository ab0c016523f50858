package reseal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/pgvault"
	"github.com/tokengate/tokengate/vault/reseal"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// fill stores n first-format records and n current ones in each of two
// tenants; it returns every record's PAN by tenant and token.
func fill(t *testing.T, v vault.Vault, ks *keys.Keys, n int) map[vault.RecordKey]string {
	t.Helper()
	pans := map[vault.RecordKey]string{}
	for _, tenant := range []string{"acme", "globex"} {
		for i := range 2 * n {
			pan := fmt.Sprintf("41111111%08d", i)
			token := fmt.Sprintf("tok_%03d", i)
			fp := ks.Fingerprint(tenant, pan)
			var sealed []byte
			var err error
			if i < n {
				sealed, err = ks.SealLegacyForTests(tenant, fp, keys.Secrets{PAN: pan})
			} else {
				sealed, err = ks.Seal(tenant, fp, token, keys.Secrets{PAN: pan})
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := vaulttest.Sample(tenant, token, fp)
			rec.Sealed = sealed
			if _, _, err := v.Put(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			pans[vault.RecordKey{Tenant: tenant, Token: token}] = pan
		}
	}
	return pans
}

// check opens every record as detokenize does and wants it current.
func check(t *testing.T, v vault.Vault, ks *keys.Keys, pans map[vault.RecordKey]string) {
	t.Helper()
	for k, pan := range pans {
		rec, err := v.Get(context.Background(), k.Tenant, k.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !ks.Current(rec.Sealed) {
			t.Fatalf("%s/%s is not current after reseal", k.Tenant, k.Token)
		}
		s, err := ks.Open(k.Tenant, rec.Fingerprint, k.Token, rec.Sealed)
		if err != nil || s.PAN != pan {
			t.Fatalf("%s/%s does not open as its card after reseal: %v", k.Tenant, k.Token, err)
		}
	}
}

func testRun(t *testing.T, v reseal.Backend) {
	ks := vaulttest.Keys(t)
	pans := fill(t, v, ks, 7)
	calls := 0
	rep, err := reseal.Run(context.Background(), v, ks, reseal.Options{Batch: 5, Progress: func(reseal.Report) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 28 || rep.Resealed != 14 || rep.Current != 14 || rep.Gone != 0 || rep.Unreadable != 0 || calls != 28 {
		t.Fatalf("first run: %+v, %d progress calls", rep, calls)
	}
	check(t, v, ks, pans)
	rep, err = reseal.Run(context.Background(), v, ks, reseal.Options{})
	if err != nil || rep.Resealed != 0 || rep.Current != 28 {
		t.Fatalf("second run (idempotent): %+v %v", rep, err)
	}
}

func TestRunBolt(t *testing.T) { testRun(t, vaulttest.OpenBolt(t)) }

func TestRunPostgres(t *testing.T) {
	v, err := pgvault.Open(context.Background(), vaulttest.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	testRun(t, v)
}

// An interrupted run leaves what it did; the next finishes the rest.
func TestRunResumes(t *testing.T) {
	v := vaulttest.OpenBolt(t)
	ks := vaulttest.Keys(t)
	pans := fill(t, v, ks, 5)
	ctx, cancel := context.WithCancel(context.Background())
	rep, err := reseal.Run(ctx, v, ks, reseal.Options{Batch: 3, Progress: func(r reseal.Report) {
		if r.Walked() == 4 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || rep.Walked() != 4 {
		t.Fatalf("interrupted run: %+v %v", rep, err)
	}
	rep, err = reseal.Run(context.Background(), v, ks, reseal.Options{})
	if err != nil || rep.Resealed != 10-4 || rep.Current != 10+4 {
		t.Fatalf("resumed run: %+v %v", rep, err)
	}
	check(t, v, ks, pans)
}

// A gateway writing a record between reseal's read and write (compare-and-
// set conflict): the record is read again and re-sealed as it now is, the
// gateway's change kept.
type racingVault struct {
	reseal.Backend
	raced bool
}

func (r *racingVault) Update(ctx context.Context, rec vault.Record) (vault.Record, error) {
	if !r.raced {
		r.raced = true
		cur, err := r.Backend.Get(ctx, rec.Tenant, rec.Token)
		if err != nil {
			return vault.Record{}, err
		}
		cur.ExpYear = "2035" // the gateway's own change, sealed data untouched
		if _, err := r.Backend.Update(ctx, cur); err != nil {
			return vault.Record{}, err
		}
	}
	return r.Backend.Update(ctx, rec)
}

func TestRunRetriesConflicts(t *testing.T) {
	v := vaulttest.OpenBolt(t)
	ks := vaulttest.Keys(t)
	pans := fill(t, v, ks, 2)
	rep, err := reseal.Run(context.Background(), &racingVault{Backend: v}, ks, reseal.Options{})
	if err != nil || rep.Retries != 1 || rep.Resealed != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
	check(t, v, ks, pans)
	rec, _ := v.Get(context.Background(), "acme", "tok_000")
	if rec.ExpYear != "2035" {
		t.Fatal("the gateway's change made during the reseal was lost")
	}
}

// A record that does not open where it is filed (swapped rows in the
// current format) is left alone, named, and makes the run fail.
func TestRunReportsUnreadable(t *testing.T) {
	v := vaulttest.OpenBolt(t)
	ks := vaulttest.Keys(t)
	fill(t, v, ks, 2)
	vaulttest.SwapThroughUpdate(t, v, "acme", "tok_002", "tok_003")
	rep, err := reseal.Run(context.Background(), v, ks, reseal.Options{})
	if !errors.Is(err, reseal.ErrUnreadable) || rep.Unreadable != 2 || len(rep.Suspect) != 2 || rep.Resealed != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
	if rep.Suspect[0] != "acme tok_002" {
		t.Fatalf("suspects %q", rep.Suspect)
	}
}
