package vault

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fillAll sets every field of v (a struct, recursively) to a value of its
// own, and fails on a kind it does not know: a field added to Record must
// be taught to packed (and here) before this passes.
func fillAll(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Date(2026, time.June, 15, 12, 0, *n, *n*1000+7, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("field-%d", *n))
	case reflect.Int64:
		v.SetInt(int64(*n) * 1001)
	case reflect.Slice:
		v.Set(reflect.ValueOf([]byte{byte(*n), 0, 0xff}))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{fmt.Sprintf("k%d", *n): "v"}))
	case reflect.Struct:
		for i := range v.NumField() {
			fillAll(t, v.Field(i), n)
		}
	default:
		t.Fatalf("Record has a %s field that packed does not know", v.Type())
	}
}

// Every field of a Record comes back from the cache's packed form equal,
// times equal with == (zone and all).
func TestPackedRoundTrip(t *testing.T) {
	var rec Record
	n := 0
	fillAll(t, reflect.ValueOf(&rec).Elem(), &n)
	check := func(name string, rec Record, wantFull bool) {
		t.Helper()
		p := pack(rec)
		got := p.record()
		if !reflect.DeepEqual(got, rec) || got.CreatedAt != rec.CreatedAt || got.UpdatedAt != rec.UpdatedAt ||
			got.Network.EventAt != rec.Network.EventAt {
			t.Fatalf("%s: packed and unpacked\n%#v\nwant\n%#v", name, got, rec)
		}
		if p.fingerprint() != rec.Fingerprint {
			t.Fatalf("%s: fingerprint %q", name, p.fingerprint())
		}
		if (p.full != nil) != wantFull {
			t.Fatalf("%s: kept whole %v, want %v", name, p.full != nil, wantFull)
		}
	}
	check("every field", rec, false)
	check("zero", Record{}, false)
	local := rec
	local.CreatedAt = time.Unix(1_781_000_000, 123).In(time.Local)
	check("local", local, false)
	loc := time.FixedZone("X", 3600)
	zoned := rec
	zoned.UpdatedAt = rec.UpdatedAt.In(loc)
	check("another zone", zoned, true)
	mono := rec
	mono.Network.EventAt = time.Now()
	check("monotonic", mono, true)
	empty := rec
	empty.Tenant, empty.Network.Error, empty.BIN = "", "", ""
	check("empty strings", empty, false)
}

// Unpacking a cached record allocates nothing.
func TestPackedRecordAllocs(t *testing.T) {
	var rec Record
	n := 0
	fillAll(t, reflect.ValueOf(&rec).Elem(), &n)
	p := pack(rec)
	var sink Record
	if a := testing.AllocsPerRun(100, func() { sink = p.record() }); a != 0 {
		t.Fatalf("record() allocates %v times", a)
	}
	_ = sink
}

func FuzzPacked(f *testing.F) {
	f.Add("acme", "tok_1", "0f0f", "visa", "424242", "4242", "03", "2030", "builtin", "nt_1", "ACTIVE", "PAR", "", []byte{1, 2}, int64(1_781_000_000), int32(5), false, int64(3))
	f.Fuzz(func(t *testing.T, tenant, token, fp, brand, bin, last4, em, ey, prov, id, status, par, e string, sealed []byte, sec int64, nsec int32, local bool, version int64) {
		if nsec < 0 || nsec >= 1e9 {
			nsec = 0
		}
		at := time.Unix(sec, int64(nsec)).UTC()
		if local {
			at = at.In(time.Local)
		}
		rec := Record{Tenant: tenant, Token: token, Fingerprint: fp, Sealed: sealed, Brand: brand, BIN: bin, Last4: last4,
			ExpMonth: em, ExpYear: ey, Version: version, CreatedAt: at, UpdatedAt: at.Add(time.Second),
			Network: NetworkToken{Provider: prov, ID: id, Status: status, ExpMonth: ey, ExpYear: em, PAR: par, Last4: bin, Error: e, EventAt: at}}
		got := pack(rec).record()
		if !reflect.DeepEqual(got, rec) || got.CreatedAt != rec.CreatedAt || got.UpdatedAt != rec.UpdatedAt || got.Network.EventAt != rec.Network.EventAt {
			t.Fatalf("packed and unpacked\n%#v\nwant\n%#v", got, rec)
		}
	})
}
