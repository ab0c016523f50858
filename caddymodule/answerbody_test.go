package caddymodule

import (
	"io"
	"slices"
	"strings"
	"testing"
)

// TestAnswerBodyClose: closing a small answer's body clears its pooled
// array before the pool gets it back, once however often it is closed,
// and a read after that finds the end, not what the array holds next.
func TestAnswerBodyClose(t *testing.T) {
	p := new([]byte)
	*p = append(make([]byte, 0, 64), `{"n":"489537******3478"}`...)
	buf := *p
	var a answerBody
	a.keep(p, buf)
	got, err := io.ReadAll(&a)
	if err != nil || string(got) != `{"n":"489537******3478"}` {
		t.Fatalf("read %q, %v", got, err)
	}
	a.Close()
	if slices.ContainsFunc(buf[:cap(buf)], func(c byte) bool { return c != 0 }) {
		t.Fatal("the body's array was not cleared on Close")
	}
	copy(buf[:cap(buf)], strings.Repeat("x", cap(buf))) // the array's next user
	if n, err := a.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("a read after Close: %d, %v", n, err)
	}
	a.Close() // a second Close gives nothing back again
	if a.pool != nil || a.buf != nil {
		t.Fatal("Close kept the array")
	}
}
