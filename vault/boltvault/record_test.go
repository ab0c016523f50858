package boltvault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// sampleRecord is a record with every field set, as a backend stamps it.
func sampleRecord(tenant, token, fp string) vault.Record {
	at := time.Date(2026, 12, 7, 17, 43, 59, 123456000, time.UTC)
	return vault.Record{Tenant: tenant, Token: token, Fingerprint: fp,
		Sealed: []byte{0x02, 0x01, 0x00, 0xff, 0x7f, 0x80, 'a', 0x00}, Brand: "visa", BIN: "42424242", Last4: "4242",
		ExpMonth: "03", ExpYear: "2030",
		Network: vault.NetworkToken{Provider: "builtin", ID: "0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091", Status: "ACTIVE",
			ExpMonth: "03", ExpYear: "2030", PAR: "V0010013020221234567890123456", Last4: "1111", EventAt: at.Add(-time.Hour)},
		Metadata:  map[string]string{"juspay.customer:cth_1": "", "note": "x"},
		CreatedAt: at, UpdatedAt: at.Add(time.Second), Version: 3}
}

// TestOldJSONRecordsStillRead writes records as every release before the
// binary encoding did (the JSON of vault.Record, token included) straight
// into the file, and reads them back through every path that decodes
// records; an update rewrites one in the binary encoding.
func TestOldJSONRecordsStillRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := sampleRecord("acme", "tok_old", "f00dfeed")
	old.Network.EventAt = time.Time{}
	legacy := `{"tenant":"acme","token":"tok_old","fingerprint":"f00dfeed","sealed":"AgEA/3+AYQA=","brand":"visa","bin":"42424242","last4":"4242","exp_month":"03","exp_year":"2030","network":{"provider":"builtin","id":"0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091","status":"ACTIVE","exp_month":"03","exp_year":"2030","par":"V0010013020221234567890123456","last4":"1111"},"metadata":{"juspay.customer:cth_1":"","note":"x"},"created_at":"2026-12-07T17:43:59.123456Z","updated_at":"2026-12-07T17:44:00.123456Z","version":3}`
	if js, _ := json.Marshal(old); string(js) != legacy {
		t.Fatalf("the old encoding is not what vault.Record's JSON gives:\n%s\n%s", js, legacy)
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		tokens, fps, err := createTenantBuckets(tx, "acme")
		if err != nil {
			return err
		}
		if err := tokens.Put([]byte("tok_old"), []byte(legacy)); err != nil {
			return err
		}
		return fps.Put([]byte("f00dfeed"), []byte("tok_old"))
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The network index is rebuilt from the records when the file lacks it
	// (a file from before the index): drop it, so the JSON record is read
	// that way too.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketNetworkIndex) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if b, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	check := func(what string, got vault.Record, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !vault.SameRecord(got, old) || got.Network != old.Network {
			t.Errorf("%s = %+v, want %+v", what, got, old)
		}
	}
	got, err := b.Get(ctx, "acme", "tok_old")
	check("Get", got, err)
	got, err = b.GetByFingerprint(ctx, "acme", "f00dfeed")
	check("GetByFingerprint", got, err)
	got, err = b.GetByNetworkToken(ctx, "builtin", old.Network.ID)
	check("GetByNetworkToken", got, err)
	page, err := b.List(ctx, "acme", vault.ListOptions{})
	if len(page.Records) != 1 {
		t.Fatalf("List: %d records, %v", len(page.Records), err)
	}
	check("List", page.Records[0], err)
	recs, err := b.Export(ctx, vault.RecordKey{}, 10)
	if len(recs) != 1 {
		t.Fatalf("Export: %d records, %v", len(recs), err)
	}
	check("Export", recs[0], err)
	sample, err := b.Sample(5)
	if len(sample) != 1 {
		t.Fatalf("Sample: %d records, %v", len(sample), err)
	}
	check("Sample", sample[0], err)

	// An update writes the binary encoding, which reads back the same.
	got.ExpYear = "2031"
	updated, err := b.Update(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if raw := rawValue(t, b, "acme", "tok_old"); raw[0] != recordV1 {
		t.Errorf("an updated record is stored as %q..., want the binary encoding", raw[:1])
	}
	old = updated
	got, err = b.Get(ctx, "acme", "tok_old")
	check("Get after Update", got, err)

	b.Close()
	if _, err := VerifyFile(path, "", func(r vault.Record) error {
		if !vault.SameRecord(r, old) {
			return errors.New("not the record written")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func rawValue(t *testing.T, b *Bolt, tenant, token string) []byte {
	t.Helper()
	var raw []byte
	if err := b.db.View(func(tx *bolt.Tx) error {
		tokens, _ := tenantBuckets(tx, tenant)
		raw = bytes.Clone(tokens.Get([]byte(token)))
		return nil
	}); err != nil || raw == nil {
		t.Fatalf("no value for %s: %v", token, err)
	}
	return raw
}

// TestNewRecordsAreBinary: Put stores the binary encoding, smaller than the
// JSON, and a record read back is the one written, field for field.
func TestNewRecordsAreBinary(t *testing.T) {
	ctx := context.Background()
	b, err := Open(filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := sampleRecord("acme", "tok_new", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	stored, _, err := b.Put(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawValue(t, b, "acme", "tok_new")
	js, _ := json.Marshal(stored)
	if raw[0] != recordV1 || len(raw) >= len(js)*6/10 {
		t.Errorf("stored %d bytes starting %#x; the JSON is %d", len(raw), raw[0], len(js))
	}
	got, err := b.Get(ctx, "acme", "tok_new")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("Get = %+v\nwant %+v", got, stored)
	}
}

// TestRecordEncodingRoundTrip: decode(encode(r)) is r exactly (==, as
// vault.SameRecord compares network tokens), in the binary encoding and in
// the JSON one a record with a non-UTC time keeps.
func TestRecordEncodingRoundTrip(t *testing.T) {
	base := sampleRecord("t", "tok", "00ff")
	cases := map[string]func(*vault.Record){
		"full":            func(*vault.Record) {},
		"not hex":         func(r *vault.Record) { r.Fingerprint = "fp_1" },
		"upper hex":       func(r *vault.Record) { r.Fingerprint = "00FF" },
		"odd hex":         func(r *vault.Record) { r.Fingerprint = "00f" },
		"no event":        func(r *vault.Record) { r.Network.EventAt = time.Time{} },
		"empty":           func(r *vault.Record) { *r = vault.Record{Token: "tok"} },
		"nanoseconds":     func(r *vault.Record) { r.Network.EventAt = time.Date(1969, 1, 2, 3, 4, 5, 999999999, time.UTC) },
		"no metadata":     func(r *vault.Record) { r.Metadata = nil },
		"negative vers":   func(r *vault.Record) { r.Version = -7 },
		"zoned event":     func(r *vault.Record) { r.Network.EventAt = r.CreatedAt.In(time.FixedZone("", 7200)) },
		"local timestamp": func(r *vault.Record) { r.CreatedAt = time.Unix(1e9, 0).Local() },
	}
	for name, change := range cases {
		rec := base
		rec.Metadata = map[string]string{"b": "2", "a": "1"}
		change(&rec)
		v, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(name, err)
		}
		wantJSON := name == "zoned event" || name == "local timestamp"
		if (v[0] == '{') != wantJSON {
			t.Errorf("%s: encoded as %q...", name, v[:1])
		}
		got, err := decodeRecord("tok", v)
		if err != nil {
			t.Fatal(name, err)
		}
		// A zone comes back from JSON as a new *time.Location: the same
		// instant and offset, but not ==, as before the binary encoding.
		gotNT, wantNT := got.Network, rec.Network
		if wantJSON && gotNT.EventAt.Equal(wantNT.EventAt) {
			gotNT.EventAt = wantNT.EventAt
		}
		if !vault.SameRecord(got, rec) || gotNT != wantNT || got.Fingerprint != rec.Fingerprint {
			t.Errorf("%s: got %+v\nwant %+v", name, got, rec)
		}
	}
}

// FuzzDecodeRecord: any bytes either decode or fail with an error (no
// panic, no huge allocation), and whatever decodes encodes back to a value
// that decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	v, _ := encodeRecord(sampleRecord("t", "tok", "00ff"))
	f.Add(v)
	f.Add([]byte{recordV1, 0})
	f.Add([]byte{recordV1, 0xff, 0x80})
	f.Add([]byte(`{"tenant":"t"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := decodeRecord("tok", v)
		if err != nil {
			return
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRecord("tok", again)
		if err != nil {
			t.Fatal(err)
		}
		if back.Network.EventAt.Equal(rec.Network.EventAt) {
			back.Network.EventAt = rec.Network.EventAt // a zone, as above
		}
		if !vault.SameRecord(back, rec) {
			t.Errorf("%+v\n%+v", back, rec)
		}
	})
}

func BenchmarkRecordEncoding(b *testing.B) {
	rec := sampleRecord("bench", "tok_0123456789abcdefghijklmn", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	rec.Sealed = make([]byte, 87)
	rec.Metadata = nil
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeRecord(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	v, _ := encodeRecord(rec)
	js, _ := json.Marshal(rec)
	b.Run("json-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	for name, enc := range map[string][]byte{"decode": v, "json-decode": js} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeRecord(rec.Token, enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes")
		})
	}
}

// A binary record with a flag this version does not know is refused, not
// read as if the flag were absent (a newer format's fields would shift).
func TestDecodeRecordRefusesUnknownFlags(t *testing.T) {
	v, err := encodeRecord(sampleRecord("t", "tok", "00ff"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeRecord("tok", v); err != nil {
		t.Fatal(err)
	}
	v[1] |= 0x80
	if _, err := decodeRecord("tok", v); !errors.Is(err, errRecordEncoding) {
		t.Fatalf("unknown flag: %v, want errRecordEncoding", err)
	}
}
