package caddymodule

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

// A pooled peek reader holds none of the answer it read: its whole
// buffer is zeros once released.
func TestReleasePeekReaderClears(t *testing.T) {
	br := bufio.NewReaderSize(nil, 4096)
	br.Reset(strings.NewReader(strings.Repeat(`{"number":"4111111111111111"}`, 200)))
	if _, err := br.Peek(4096); err != nil {
		t.Fatal(err)
	}
	buf := reflect.ValueOf(br).Elem().FieldByName("buf")
	nonzero := func() int {
		n := 0
		for i := range buf.Len() {
			if buf.Index(i).Uint() != 0 {
				n++
			}
		}
		return n
	}
	if nonzero() == 0 {
		t.Fatal("the answer did not reach the buffer: the test reads the wrong field")
	}
	releasePeekReader(br)
	if n := nonzero(); n != 0 || buf.Len() != 4096 {
		t.Fatalf("%d bytes of the answer left in a buffer of %d", n, buf.Len())
	}
}
