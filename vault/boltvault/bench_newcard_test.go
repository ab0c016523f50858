package boltvault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/vault"
)

// BenchmarkBoltPutNewCard is the vault's share of a new card's tokenization,
// keyed as in production: a random token and fingerprint, and the built-in
// network token service's state (a time-ordered id and a random DPAN index
// key) held in a unit and committed with the record. 16 writers, as
// bench/run's connections. pages/commit is what each group commit writes.
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
	g0, w0 := v.w.groups.Load(), v.w.writes.Load()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("%016x-%d", time.Now().UnixNano(), seq.Add(1))
			unit := vault.NewUnit()
			if err := unit.Hold(kv, map[string][]byte{id: []byte(`{"v":1,"id":"` + id + `","brand":"visa","token_bin":"489537","length":16,"status":"ACTIVE"}`), "dpan-index:" + random(16): []byte(`{"id":"` + id + `"}`)}); err != nil {
				b.Error(err)
				return
			}
			rec := vault.Record{Tenant: "bench", Token: "tok_" + random(12), Fingerprint: random(32),
				Sealed: make([]byte, 120), Brand: "visa", BIN: "42424242", Last4: "4242", ExpMonth: "03", ExpYear: "2030",
				Network: vault.NetworkToken{Provider: "builtin", ID: id, Status: "ACTIVE", ExpMonth: "03", ExpYear: "2030", Last4: "1111"}}
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
		b.ReportMetric(float64(v.w.writes.Load()-w0)/float64(v.w.groups.Load()-g0), "writes/commit")
		// The share of the time the one writer spent writing and syncing.
		b.ReportMetric(float64(st.TxStats.GetWriteTime())/float64(b.Elapsed()), "write-busy")
		b.ReportMetric(float64(st.TxStats.GetSpillTime())/float64(b.Elapsed()), "spill-busy")
	}
}
