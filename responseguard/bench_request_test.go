package responseguard

import (
	"bytes"
	"net/url"
	"os"
	"testing"
)

// BenchmarkNewWithRequest is the guard of one detokenized request as
// caddymodule builds it for bench/run's detokenize body: the merchant's
// body, the body sent and their form-decoded copies are scanned for
// cryptogram-like tokens, then the echo of the sent body is redacted whole
// as JSON.
func BenchmarkNewWithRequest(b *testing.B) {
	merchant, err := os.ReadFile("../bench/bodies/detokenize.json")
	if err != nil {
		b.Fatal(err)
	}
	merchant = bytes.Replace(merchant, []byte("{{TOKEN}}"), []byte(token), 1)
	sent := bytes.Replace(merchant, []byte(`"`+token+`"`), []byte(`"`+dpan+`","cryptogram":"`+crypt+`","eci":"05"`), 1)
	plus := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("+"), []byte(" ")) }
	req := [][]byte{merchant, sent, nil, plus(merchant), plus(sent), []byte("application/json"), []byte("Go-http-client/1.1")}
	b.SetBytes(int64(len(sent)))
	b.ReportAllocs()
	for b.Loop() {
		g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}}, Request: req})
		g.ForJSON().Bytes(sent)
	}
}

// BenchmarkBytesEcho is guardResponse's redaction alone of bench/run's
// detokenize answer (the upstream echoes the sent body: DPAN, cryptogram):
// the guard is built once, as caddymodule builds it, and the echo is
// redacted whole as JSON each time.
func BenchmarkBytesEcho(b *testing.B) {
	merchant, err := os.ReadFile("../bench/bodies/detokenize.json")
	if err != nil {
		b.Fatal(err)
	}
	merchant = bytes.Replace(merchant, []byte("{{TOKEN}}"), []byte(token), 1)
	sent := bytes.Replace(merchant, []byte(`"`+token+`"`), []byte(`"`+dpan+`","cryptogram":"`+crypt+`","eci":"05"`), 1)
	g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}}, Request: [][]byte{merchant, sent}})
	b.SetBytes(int64(len(sent)))
	b.ReportAllocs()
	for b.Loop() {
		g.ForJSON().Bytes(sent)
	}
}

// BenchmarkNewWithRequestForm is BenchmarkNewWithRequest for bench/run's
// form detokenize body, whose '&'s make every request entry and the echo
// escaped (normalized copies).
func BenchmarkNewWithRequestForm(b *testing.B) {
	merchant, err := os.ReadFile("../bench/bodies/detokenize.form")
	if err != nil {
		b.Fatal(err)
	}
	merchant = bytes.Replace(merchant, []byte("{{TOKEN}}"), []byte(token), 1)
	sent := bytes.Replace(merchant, []byte(token), []byte(dpan+"&cryptogram="+url.QueryEscape(crypt)+"&eci=05"), 1)
	plus := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("+"), []byte(" ")) }
	req := [][]byte{merchant, sent, nil, plus(merchant), plus(sent), []byte("application/x-www-form-urlencoded"), []byte("Go-http-client/1.1")}
	b.SetBytes(int64(len(sent)))
	b.ReportAllocs()
	for b.Loop() {
		g := NewGuard(Options{Secrets: []Secret{{Value: dpan, With: token}, {Value: crypt, With: Mask}}, Request: req})
		g.Bytes(sent)
	}
}
