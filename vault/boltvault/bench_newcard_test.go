package boltvault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// bytesWritten is what this process has written with write(2) and its
// kin (Linux's /proc/self/io wchar), 0 where that is not known.
func bytesWritten() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// benchVaultCards is how many cards BenchmarkBoltPutNewCard's vault holds
// before it starts: TOKENGATE_BENCH_VAULT_CARDS, 200,000 when unset.
func benchVaultCards() int {
	if n, err := strconv.Atoi(os.Getenv("TOKENGATE_BENCH_VAULT_CARDS")); err == nil && n >= 0 {
		return n
	}
	return 200_000
}

func randomHex(n int) string {
	raw := make([]byte, n)
	rand.Read(raw)
	return hex.EncodeToString(raw)
}

// benchNetworkState is the builtin network token service's state and DPAN
// reservation for a new card, of their real sizes (network.tokenState's
// JSON) and keys (a time-ordered id, a random DPAN index key).
func benchNetworkState(id string) map[string][]byte {
	state := `{"v":1,"id":"` + id + `","brand":"visa","token_bin":"489537","length":16,"key_id":"0a1b2c3d","exp_month":"03","exp_year":"2030","par":"V0010013020221234567890123","status":"ACTIVE","created":"2026-12-07T17:43:59.123456789Z","updated":"2026-12-07T17:43:59.123456789Z"}`
	return map[string][]byte{id: []byte(state), "dpan-index:" + randomHex(16): []byte(`{"id":"` + id + `"}`)}
}

// benchRecord is a new card's record as tokenize stores it: a random token
// and fingerprint, a network token under id.
func benchRecord(id string) vault.Record {
	return vault.Record{Tenant: "bench", Token: "tok_" + randomHex(12), Fingerprint: randomHex(32),
		Sealed: make([]byte, 87), Brand: "visa", BIN: "42424242", Last4: "4242", ExpMonth: "03", ExpYear: "2030",
		Network: vault.NetworkToken{Provider: "builtin", ID: id, Status: "ACTIVE", ExpMonth: "03", ExpYear: "2030",
			PAR: "V0010013020221234567890123", Last4: "1111"}}
}

var prefilled struct {
	sync.Mutex
	paths map[int]string
}

// prefilledVault returns a vault file holding cards new cards, written once
// per test binary and copied by each benchmark run. The cards are written
// through the same transaction code as PutInUnit, many to a transaction.
func prefilledVault(b *testing.B, cards int) string {
	prefilled.Lock()
	defer prefilled.Unlock()
	if p, ok := prefilled.paths[cards]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "boltvault-bench-")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "vault.db")
	v, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens").KeepInMemory("dpan-index:") // as caddymodule opens it
	start := time.Now().Add(-time.Hour).UnixNano()
	for done := 0; done < cards; {
		n := min(5_000, cards-done)
		err := v.db.Update(func(tx *bolt.Tx) error {
			for i := range n {
				id := fmt.Sprintf("%016x-%d", start+int64(done+i), done+i)
				rec := benchRecord(id)
				rec.CreatedAt, rec.UpdatedAt, rec.Version = now(), now(), 1
				tokens, fps, err := createTenantBuckets(tx, rec.Tenant)
				if err != nil {
					return err
				}
				if err := storeRecord(tokens, rec); err != nil {
					return err
				}
				if err := indexNetworkToken(tx, vault.Record{}, rec); err != nil {
					return err
				}
				if err := fps.Put([]byte(rec.Fingerprint), []byte(rec.Token)); err != nil {
					return err
				}
				if err := kv.putAll(tx, benchNetworkState(id), false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	if prefilled.paths == nil {
		prefilled.paths = map[int]string{}
	}
	prefilled.paths[cards] = path
	return path
}

// filePages is how many pages the vault's data takes.
func filePages(b *testing.B, v *Bolt) int {
	var pages int
	if err := v.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
			s := bk.Stats()
			pages += s.BranchPageN + s.BranchOverflowN + s.LeafPageN + s.LeafOverflowN
			return nil
		})
	}); err != nil {
		b.Fatal(err)
	}
	return pages
}

// TestMain removes the prefilled vaults when the test binary is done.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range prefilled.paths {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

func copyFile(b *testing.B, from, to string) {
	raw, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBoltPutNewCard is the vault's share of a new card's tokenization,
// keyed as in production: a random token and fingerprint, and the built-in
// network token service's state (a time-ordered id and a random DPAN index
// key) held in a unit and committed with the record. 16 writers, as
// bench/run's connections. pagewrites/op is the page runs written per card, written-B/op the bytes
// (fsynced) and file-B/op the pages the data takes, per card.
//
// The vault starts with benchVaultCards() cards already in it (bench/run's
// vault reaches about 200,000), since what a new card costs depends on how
// many pages its random keys can land on.
func BenchmarkBoltPutNewCard(b *testing.B) {
	path := filepath.Join(b.TempDir(), "vault.db")
	copyFile(b, prefilledVault(b, benchVaultCards()), path)
	v, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens").KeepInMemory("dpan-index:") // as caddymodule opens it
	var seq atomic.Int64
	ctx := context.Background()
	pages0 := filePages(b, v)
	before := v.db.Stats()
	written0 := bytesWritten()
	g0, w0 := v.w.groups.Load(), v.w.writes.Load()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("%016x-%d", time.Now().UnixNano(), seq.Add(1))
			unit := vault.NewUnit()
			if err := unit.Hold(kv, benchNetworkState(id)); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := v.PutInUnit(ctx, unit, benchRecord(id)); err != nil {
				b.Error(err)
				return
			}
			if err := unit.Commit(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after := v.db.Stats()
	st := after.Sub(&before)
	if b.N > 0 {
		b.ReportMetric(float64(st.TxStats.GetWrite())/float64(b.N), "pagewrites/op")
		if w := bytesWritten(); w > 0 {
			b.ReportMetric(float64(w-written0)/float64(b.N), "written-B/op")
		}
		// The pages the vault's data grew by, per card.
		b.ReportMetric(float64((filePages(b, v)-pages0)*v.db.Info().PageSize)/float64(b.N), "file-B/op")
		b.ReportMetric(float64(v.w.writes.Load()-w0)/float64(v.w.groups.Load()-g0), "writes/commit")
		// The share of the time the one writer spent writing and syncing.
		b.ReportMetric(float64(st.TxStats.GetWriteTime())/float64(b.Elapsed()), "write-busy")
		b.ReportMetric(float64(st.TxStats.GetSpillTime())/float64(b.Elapsed()), "spill-busy")
	}
}
