package tokenize

import (
	"testing"
	"unsafe"
)

// A bulk body holds one cardInput per card until its tokens are in the
// body: keep it in the 480-byte size class (it was 576 with the served
// APIs' address inline).
func TestCardInputSize(t *testing.T) {
	if n := unsafe.Sizeof(cardInput{}); n > 480 {
		t.Fatalf("cardInput is %d bytes", n)
	}
}
