package reseal_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
	"github.com/tokengate/tokengate/vault/reseal"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// memCursor is a CursorStore in memory.
type memCursor struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCursor) Load(_ context.Context, id string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id], nil
}

func (c *memCursor) Save(_ context.Context, id string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[id] = data
	return nil
}

// TestBackgroundResumes: after a rotation the background re-seal moves
// every record to the new primary key; stopped mid-way, the next pass
// continues from the cursor (walks none of the records done again); a
// third pass does nothing; a vault already under the primary needs no
// pass. The audit entries say start, stopped, start and end with counts,
// and hold no card data.
func TestBackgroundResumes(t *testing.T) {
	data, err := keys.GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := keys.Parse(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := vaulttest.OpenBolt(t)
	pans := fill(t, v, old, 4) // 16 records, all under the old key
	total := int64(len(pans))

	idle := &reseal.Background{Vault: v, Keys: old, Cursor: &memCursor{}, Audit: audit.Discard}
	if pass, err := idle.Run(context.Background()); err != nil || pass.Skipped != "current" {
		t.Fatalf("a vault under the primary key: %+v, %v", pass, err)
	}

	rotated, err := keys.RotateKeyset(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Parse(rotated, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &audit.Memory{}
	cursor := &memCursor{}
	var remaining int64 = -1
	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	bg := &reseal.Background{Vault: v, Keys: ks, Cursor: cursor, Rate: 100_000, Batch: 3, Audit: rec,
		Remaining: func(n int64) { remaining = n },
		Observe: func(reseal.Result) {
			if seen++; seen == 5 {
				cancel()
			}
		}}
	pass, err := bg.Run(ctx)
	if err == nil || pass.Resealed != 5 || remaining != total-5 {
		t.Fatalf("stopped pass: %+v, %v, remaining %d", pass.Report, err, remaining)
	}
	bg.Observe = nil
	pass, err = bg.Run(context.Background())
	if err != nil || !pass.Resumed || pass.Resealed != total-5 || pass.Current != 0 || remaining != 0 {
		t.Fatalf("resumed pass: %+v resumed %v, %v, remaining %d", pass.Report, pass.Resumed, err, remaining)
	}
	check(t, v, ks, pans)
	for key := range pans {
		r, err := v.Get(context.Background(), key.Tenant, key.Token)
		if err != nil || !ks.Current(r.Sealed) {
			t.Fatalf("%v not under the primary key: %v", key, err)
		}
	}
	if pass, err = bg.Run(context.Background()); err != nil || pass.Skipped != "done" {
		t.Fatalf("third pass: %+v, %v", pass, err)
	}
	counts, err := vault.CountSealingKeys(context.Background(), v)
	if err != nil || counts.ByKey[ks.PrimaryKeyID()] != total || counts.ByKey[old.PrimaryKeyID()] != 0 {
		t.Fatalf("counts after the re-seal: %+v, %v", counts, err)
	}

	var events []string
	for _, e := range rec.Entries() {
		if e.Action != audit.ActionReseal {
			t.Fatalf("entry action %q", e.Action)
		}
		events = append(events, e.Detail["event"])
		raw, _ := json.Marshal(e)
		for _, pan := range pans {
			if strings.Contains(string(raw), pan) {
				t.Fatal("an audit entry holds a card number")
			}
		}
	}
	if strings.Join(events, ",") != "start,stopped,start,end" {
		t.Fatalf("audit events %v", events)
	}
	end := rec.Entries()[3]
	if end.Detail["resealed"] != "11" || end.Detail["remaining"] != "0" || rec.Entries()[2].Detail["resumed"] != "true" {
		t.Fatalf("end entry: %v", end.Detail)
	}
}
