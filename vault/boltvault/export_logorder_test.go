package boltvault

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// TestExportStateReadsTheLogOnce: an export of many logged keys in pages
// reads the log once, not once a page (which made an export's time grow
// with the square of the vault); a key logged during the export makes the
// next page read it again, and is exported.
func TestExportStateReadsTheLogOnce(t *testing.T) {
	const n, page = 20000, 500
	ctx := context.Background()
	b, err := Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv := b.KV("s").KeepInMemory("r:")
	want := map[string]string{}
	// Logged in batches, out of id order (7919 is prime to n).
	for batch := 0; batch < n; batch += 1000 {
		m := map[string][]byte{}
		for j := batch; j < batch+1000; j++ {
			id := fmt.Sprintf("r:%05d", j*7919%n)
			m[id] = []byte(fmt.Sprint("v", j))
			want[id] = string(m[id])
		}
		if err := kv.SaveAll(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Some filed under themselves, in between, and one logged key written again.
	for _, id := range []string{"a", "r:00007x", "z"} {
		if err := b.KV("s").Save(ctx, id, []byte("plain")); err != nil {
			t.Fatal(err)
		}
		want[id] = "plain"
	}
	if err := kv.Save(ctx, "r:00123", []byte("again")); err != nil {
		t.Fatal(err)
	}
	want["r:00123"] = "again"

	// export pages through the whole space and tells how often the log was
	// read; during, if set, runs after the second page.
	export := func(during func()) (map[string]string, []string, int64) {
		got, order := map[string]string{}, []string{}
		scans := logScans.Load()
		after := vault.StateKey{}
		for pages := 1; ; pages++ {
			es, err := b.ExportState(ctx, after, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				got[e.ID] = string(e.Data)
				order = append(order, e.ID)
			}
			after = es[len(es)-1].StateKey
			if pages == 2 && during != nil {
				during()
			}
		}
		return got, order, logScans.Load() - scans
	}
	got, order, scans := export(nil)
	if !reflect.DeepEqual(got, want) || len(order) != len(want) || !slices.IsSorted(order) {
		t.Fatalf("exported %d entries (%d distinct, sorted: %v), want %d", len(order), len(got), slices.IsSorted(order), len(want))
	}
	if scans != 1 {
		t.Fatalf("an export of %d logged keys in pages of %d read the log %d times, want once", n, page, scans)
	}
	// Read already: a second export reads it no more.
	if _, _, scans := export(nil); scans != 0 {
		t.Fatalf("a second export read the unchanged log %d times", scans)
	}
	// A key logged after the second page, past the cursor, is exported.
	got, order, scans = export(func() {
		if err := kv.Save(ctx, "r:99999", []byte("late")); err != nil {
			t.Fatal(err)
		}
	})
	want["r:99999"] = "late"
	if !reflect.DeepEqual(got, want) || len(order) != len(want) || !slices.IsSorted(order) {
		t.Fatalf("exported %d entries (%d distinct), want %d", len(order), len(got), len(want))
	}
	if scans != 1 {
		t.Fatalf("an export during which the log changed once read it %d times, want once", scans)
	}
}
