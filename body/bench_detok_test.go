package body

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkDetokenizeEdits is the outbound edit of bench/run's detokenize
// body, as detokenize.Apply makes it: the token, expiry replaced, and a
// cryptogram and ECI added to the card object that lacks them.
func BenchmarkDetokenizeEdits(b *testing.B) {
	raw, err := os.ReadFile("../bench/bodies/detokenize.json")
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Replace(raw, []byte("{{TOKEN}}"), []byte("tok_2b4f9e1c7a3d5f80aa"), 1)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(JSON, "application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Find("payment.card.number")) != 1 {
			b.Fatal("no number")
		}
		d.Set("payment.card.number", "4895370012345678")
		d.Set("payment.card.exp_month", "03")
		d.Set("payment.card.exp_year", "2030")
		d.Set("payment.card.cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
		d.Set("payment.card.eci", "07")
		if _, err := d.Bytes(); err != nil {
			b.Fatal(err)
		}
		Release(d)
	}
}

// BenchmarkDetokenizeFormEdits is BenchmarkDetokenizeEdits for bench/run's
// form body: parse, the token found, its edits, Bytes, the built body
// parsed again and read as Result.Verify reads it, both docs released.
func BenchmarkDetokenizeFormEdits(b *testing.B) {
	raw, err := os.ReadFile("../bench/bodies/detokenize.form")
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Replace(raw, []byte("{{TOKEN}}"), []byte("tok_2b4f9e1c7a3d5f80aa"), 1)
	const ct = "application/x-www-form-urlencoded"
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(Form, ct, body)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Find("card_number")) != 1 {
			b.Fatal("no number")
		}
		_ = TextList(d) // the outbound PAN guard's read
		d.Set("card_number", "4895370012345678")
		d.Set("card_exp_month", "03")
		d.Set("card_exp_year", "2030")
		d.Set("card_cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
		d.Set("card_eci", "07")
		built, err := d.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		Release(d)
		again, err := Parse(Form, ct, built)
		if err != nil || len(again.Find("card_number")) != 1 {
			b.Fatal("not built")
		}
		Release(again)
	}
}
