package network

import (
	"errors"
	"sync"
	"testing"
)

// TestConcurrentUse runs provisioning, lookups, cryptograms and status
// changes at once; run it with -race.
func TestConcurrentUse(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	base, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				switch i % 4 {
				case 0:
					if _, err := b.Provision(ctx, provisionReq(makePAN("411111", 16, g*1000+i))); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := b.Get(ctx, base.ID); err != nil {
						t.Error(err)
					}
				case 2:
					c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: base.ID})
					if err != nil && !errors.Is(err, ErrSuspended) {
						t.Error(err)
					}
					if err == nil {
						mu.Lock()
						if seen[c.Value] {
							t.Error("repeated cryptogram")
						}
						seen[c.Value] = true
						mu.Unlock()
					}
				case 3:
					status := StatusActive
					if g%2 == 0 {
						status = StatusSuspended
					}
					if err := b.SetStatus(ctx, base.ID, status); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
