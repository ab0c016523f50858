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
