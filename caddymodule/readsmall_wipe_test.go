package caddymodule

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// nonZero reports whether any byte of a's whole array is set.
func nonZero(a []byte) bool {
	return slices.ContainsFunc(a[:cap(a)], func(c byte) bool { return c != 0 })
}

// TestReadSmallWipesOutgrownArray: an answer longer than announced (a gzip
// answer: its Content-Length is the compressed one) grows readSmall's
// array; the array it leaves, the pooled one first, held the answer, card
// data and all, and is cleared, not dropped as it is.
func TestReadSmallWipesOutgrownArray(t *testing.T) {
	answer := strings.Repeat(`{"n":"4895370012003478"}`, 40) // 960 bytes
	first := make([]byte, 0, 100)                            // as announced, say
	b, err := readSmall(first, bufio.NewReaderSize(strings.NewReader(answer), 16), bufferLimit+1)
	if err != nil || string(b) != answer {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
	if nonZero(first) {
		t.Fatal("the array readSmall outgrew still holds the answer")
	}
}

// TestReadSmallWipesNULRead: the read in which a NUL is found is not kept,
// and is cleared too: the caller clears only what readSmall returned.
func TestReadSmallWipesNULRead(t *testing.T) {
	answer := []byte(`{"n":"4895370012003478","x":"` + "\x00" + `"}`)
	arr := make([]byte, 0, 128)
	b, err := readSmall(arr, bufio.NewReader(bytes.NewReader(answer)), bufferLimit+1)
	if err != errNUL {
		t.Fatalf("err %v", err)
	}
	clear(b) // what guardResponse's error path does
	if nonZero(arr) {
		t.Fatalf("the NUL read's bytes are left in the array: %q", bytes.Trim(arr[:cap(arr)], "\x00"))
	}
}
