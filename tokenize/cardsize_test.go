package tokenize

import (
	"testing"
	"unsafe"
)

// A bulk body holds one cardInput per card until its tokens are in the
// body (what drop leaves): keep it in the 240-byte size class (it was 576
// with the served APIs' address and every value inline).
func TestCardInputSize(t *testing.T) {
	if n := unsafe.Sizeof(cardInput{}); n > 240 {
		t.Fatalf("cardInput is %d bytes", n)
	}
}
