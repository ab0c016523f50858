package macpool

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// Sum is HMAC-SHA256 under the pool's key, for inputs of every length
// around SHA-256's 64-byte block, computed in turn on reused states.
func TestSum(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	p := New(key)
	key[0] = 8 // New copied it
	for n := range 200 {
		in := strings.Repeat("x", n)
		got := p.Sum(func(buf []byte) []byte { return append(buf, in...) })
		h := hmac.New(sha256.New, bytes.Repeat([]byte{7}, 32))
		h.Write([]byte(in))
		if !bytes.Equal(got[:], h.Sum(nil)) {
			t.Fatalf("input of %d bytes: wrong sum", n)
		}
	}
}

// A state back in the pool holds neither its input (here a card number,
// ending a partial block) nor its sum: not in its scratch buffer, nor in
// the HMAC's own states.
func TestPoolKeepsNothing(t *testing.T) {
	p := New(bytes.Repeat([]byte{7}, 32))
	const pan = "4111111111111111"
	for _, prefix := range []string{"", "par|", strings.Repeat("p", 70)} {
		sum := p.Sum(func(buf []byte) []byte { return append(append(buf, prefix...), pan...) })
		s := p.pool.Get().(*state)
		if holds(reflect.ValueOf(s), []byte(pan[6:]), map[uintptr]bool{}) {
			t.Errorf("prefix of %d bytes: the pooled state still holds the card number", len(prefix))
		}
		if holds(reflect.ValueOf(s), sum[:8], map[uintptr]bool{}) {
			t.Errorf("prefix of %d bytes: the pooled state still holds the sum", len(prefix))
		}
		p.pool.Put(s)
	}
}

// holds reports whether the memory reachable from v (unexported fields,
// pointers, interfaces, slices up to their capacity) contains needle.
func holds(v reflect.Value, needle []byte, seen map[uintptr]bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false
		}
		if v.Kind() == reflect.Pointer {
			if seen[v.Pointer()] {
				return false
			}
			seen[v.Pointer()] = true
		}
		return holds(v.Elem(), needle, seen)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			if holds(f, needle, seen) {
				return true
			}
		}
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := unsafe.Slice((*byte)(unsafe.Pointer(v.UnsafeAddr())), v.Len())
			return bytes.Contains(b, needle)
		}
		for i := range v.Len() {
			if holds(v.Index(i), needle, seen) {
				return true
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := unsafe.Slice((*byte)(v.UnsafePointer()), v.Cap())
			return bytes.Contains(b, needle)
		}
		for i := range v.Len() {
			if holds(v.Index(i), needle, seen) {
				return true
			}
		}
	}
	return false
}

func BenchmarkSum(b *testing.B) {
	p := New(bytes.Repeat([]byte{7}, 32))
	b.ReportAllocs()
	for b.Loop() {
		p.Sum(func(buf []byte) []byte { return append(buf, "4111111111111111"...) })
	}
}
