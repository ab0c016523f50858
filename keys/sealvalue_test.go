package keys_test

import (
	"testing"

	"github.com/tokengate/tokengate/keys"
)

// TestSealValueBound: a value opens only for the purpose, tenant and id it
// was sealed for, call after call (the associated data's pooled arrays
// carry nothing from one call to the next).
func TestSealValueBound(t *testing.T) {
	k := mustLoad(t, keys.Options{File: writeKeyset(t, t.TempDir(), nil)})
	for range 3 {
		sealed, err := k.SealValue("cvv", "acme", "tok_1", []byte("123"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := k.OpenValue("cvv", "acme", "tok_1", sealed); err != nil || string(pt) != "123" {
			t.Fatalf("open: %q %v", pt, err)
		}
		for _, other := range [][3]string{
			{"card", "acme", "tok_1"}, {"cvv", "acme2", "tok_1"}, {"cvv", "acme", "tok_2"},
			{"cvv\x00acme", "", "tok_1"}, {"cvv", "acme\x00tok_1", ""}, {"cvv", "acme", "tok_1\x00"},
		} {
			if _, err := k.OpenValue(other[0], other[1], other[2], sealed); err == nil {
				t.Errorf("sealed for cvv/acme/tok_1, opened for %q", other)
			}
		}
	}
}
