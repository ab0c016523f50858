package keys

import (
	"bytes"
	"testing"
)

// FuzzValueAD: the pooled associated data of SealValue and OpenValue is,
// byte for byte, what they built before (associatedData(purpose+"\x00"+
// tenant, id)), so every value sealed before still opens; and an array
// handed back clean serves the next call (nothing of the last left over).
func FuzzValueAD(f *testing.F) {
	f.Add("cvv", "acme", "tok_1", "short-lived card", "", "x")
	f.Add("", "", "", "cvv", "a\x00b", string(make([]byte, 600)))
	f.Fuzz(func(t *testing.T, purpose, tenant, id, purpose2, tenant2, id2 string) {
		for _, in := range [][3]string{{purpose, tenant, id}, {purpose2, tenant2, id2}} {
			bp, ad := valueAD(in[0], in[1], in[2])
			if want := associatedData(in[0]+"\x00"+in[1], in[2]); !bytes.Equal(ad, want) {
				t.Fatalf("valueAD%q = %q, want %q", in, ad, want)
			}
			putAD(bp, ad)
		}
	})
}
