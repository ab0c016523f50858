package network

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"testing"
	"unsafe"
)

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

// A derivation leaves no card number in the pooled MAC it hands back.
func TestMACPoolKeepsNoPAN(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	pan := "4111111111111111"
	derivePAR(key, "P", pan)
	m := macPool.Get().(*keyedMAC)
	defer macPool.Put(m)
	if holds(reflect.ValueOf(m), []byte(pan[6:]), map[uintptr]bool{}) {
		t.Fatal("the pooled MAC still holds the card number it hashed")
	}
}

// A cryptogram leaves neither the DPAN nor itself in the pooled MAC.
func TestCryptogramMACPoolKeepsNothing(t *testing.T) {
	b := newTestBuiltin(t, NewMemoryStore())
	tok, err := b.Provision(ctx, provisionReq("4111111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Cryptogram(ctx, CryptogramRequest{TokenID: tok.ID})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	m := macPool.Get().(*keyedMAC)
	defer macPool.Put(m)
	if holds(reflect.ValueOf(m), []byte(tok.DPAN), map[uintptr]bool{}) {
		t.Error("the pooled MAC still holds the DPAN")
	}
	if holds(reflect.ValueOf(m), raw[:8], map[uintptr]bool{}) {
		t.Error("the pooled MAC still holds the cryptogram")
	}
}
