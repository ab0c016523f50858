package network

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzEncodeState: encodeState gives json.Marshal's bytes for any state,
// and encodeReservation for any id.
func FuzzEncodeState(f *testing.F) {
	f.Add("0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091", "visa", "489537", 16, "0a1b2c3d", "03", "2030", "V0010013020221234567890123", "ACTIVE", int64(1765129439123456789), 0)
	f.Add("a\"b\\c<d>&\x00é", "", "", -1, "", "", "", "", "", int64(-62135596800), 3600)
	f.Add("x", "y", "z", 0, "k", "m", "y", "p", "s", int64(253402300800), 30)
	f.Add("x", "y", "z", 0, "k", "m", "y", "p", "s", int64(0), -86400)
	f.Fuzz(func(t *testing.T, id, brand, bin string, length int, kid, month, year, par, status string, ns int64, off int) {
		at := time.Unix(0, ns).In(time.FixedZone("", off))
		if off == 0 {
			at = at.UTC()
		}
		st := tokenState{V: 1, ID: id, Brand: brand, TokenBIN: bin, Length: length, KeyID: kid, ExpMonth: month,
			ExpYear: year, PAR: par, Status: status, Created: at, Updated: at.Add(time.Duration(ns % 1000))}
		want, wantErr := json.Marshal(&st)
		got, err := encodeState(&st)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("encodeState = %s, %v\njson.Marshal = %s, %v", got, err, want, wantErr)
		}
		want, _ = json.Marshal(dpanReservation{ID: id})
		if got := encodeReservation(id); !bytes.Equal(got, want) {
			t.Fatalf("encodeReservation = %s, json.Marshal = %s", got, want)
		}
	})
}

func BenchmarkEncodeState(b *testing.B) {
	now := time.Now().UTC()
	st := tokenState{V: 1, ID: "0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091", Brand: "visa", TokenBIN: "489537", Length: 16,
		KeyID: "0a1b2c3d", ExpMonth: "03", ExpYear: "2030", PAR: "V0010013020221234567890123", Status: "ACTIVE", Created: now, Updated: now}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeState(&st); err != nil {
			b.Fatal(err)
		}
	}
}
