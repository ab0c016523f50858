package keys

import (
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
)

// TestFingerprintPooledIsTinks: the pooled HMAC (used for every generated
// keyset) gives tink's PRF output for every input, also from many
// goroutines at once (each state is reset between uses).
func TestFingerprintPooledIsTinks(t *testing.T) {
	data, err := GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.hmac == nil {
		t.Fatal("a generated keyset's fingerprints do not use the pooled HMAC")
	}
	tinks := func(tenant, pan string) string {
		out, err := k.prf.ComputePRF([]byte(tenant+"\x00"+pan), fingerprintSize)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(out)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tenant := "tenant" + strconv.Itoa(g) + string(make([]byte, i%70)) // inputs longer than a block too
				pan := "4111111111111111" + strconv.Itoa(i)
				if got, want := k.Fingerprint(tenant, pan), tinks(tenant, pan); got != want {
					t.Errorf("Fingerprint(%q, …) = %s, tink's PRF gives %s", tenant, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFingerprintPoolHoldsNoPAN: a state back in the pool holds nothing of
// the card: its scratch input and its sum are zero.
func TestFingerprintPoolHoldsNoPAN(t *testing.T) {
	data, err := GenerateKeyset(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4111111111111111"
	k.Fingerprint("acme", pan)
	s := k.hmac.pool.Get().(*hmacState)
	for _, b := range s.in[:cap(s.in)] {
		if b != 0 {
			t.Fatal("the pooled scratch input was not cleared")
		}
	}
	if s.sum != [32]byte{} {
		t.Fatal("the pooled sum was not cleared")
	}
	// The HMAC's own block buffer is restored whole by Reset (see
	// newHMACPRF); it has no API to read it back.
	k.hmac.pool.Put(s)
}
