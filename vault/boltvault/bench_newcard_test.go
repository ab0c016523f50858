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

// BenchmarkBoltPutNewCard is the vault's share of a new card's tokenization,
// keyed as in production: a random token and fingerprint, and the built-in
// network token service's state (a time-ordered id and a random DPAN index
// key) held in a unit and committed with the record. 16 writers, as
// bench/run's connections. pagewrites/op is the page runs written per card, written-B/op the bytes
// (fsynced) and file-B/op the pages the data takes, per card.
func BenchmarkBoltPutNewCard(b *testing.B) {
	v, err := Open(filepath.Join(b.TempDir(), "vault.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	kv := v.KV("network_tokens")
	random := func(n int) string {
		raw := make([]byte, n)
		rand.Read(raw)
		return hex.EncodeToString(raw)
	}
	var seq atomic.Int64
	ctx := context.Background()
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
			// The builtin service's state and DPAN reservation, of their
			// real sizes (network.tokenState's JSON).
			state := `{"v":1,"id":"` + id + `","brand":"visa","token_bin":"489537","length":16,"key_id":"0a1b2c3d","exp_month":"03","exp_year":"2030","par":"V0010013020221234567890123","status":"ACTIVE","created":"2026-12-07T17:43:59.123456789Z","updated":"2026-12-07T17:43:59.123456789Z"}`
			if err := unit.Hold(kv, map[string][]byte{id: []byte(state), "dpan-index:" + random(16): []byte(`{"id":"` + id + `"}`)}); err != nil {
				b.Error(err)
				return
			}
			rec := vault.Record{Tenant: "bench", Token: "tok_" + random(12), Fingerprint: random(32),
				Sealed: make([]byte, 87), Brand: "visa", BIN: "42424242", Last4: "4242", ExpMonth: "03", ExpYear: "2030",
				Network: vault.NetworkToken{Provider: "builtin", ID: id, Status: "ACTIVE", ExpMonth: "03", ExpYear: "2030",
					PAR: "V0010013020221234567890123", Last4: "1111"}}
			if _, _, err := v.PutInUnit(ctx, unit, rec); err != nil {
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
		// The pages the vault's data takes, per card (what the file grows by).
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
		b.ReportMetric(float64(pages*v.db.Info().PageSize)/float64(b.N), "file-B/op")
		b.ReportMetric(float64(v.w.writes.Load()-w0)/float64(v.w.groups.Load()-g0), "writes/commit")
		// The share of the time the one writer spent writing and syncing.
		b.ReportMetric(float64(st.TxStats.GetWriteTime())/float64(b.Elapsed()), "write-busy")
		b.ReportMetric(float64(st.TxStats.GetSpillTime())/float64(b.Elapsed()), "spill-busy")
	}
}
