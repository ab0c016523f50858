package body

import (
	"bytes"
	"mime/multipart"
	"net/http/httptest"
	"testing"
)

// cardsOfSize builds a JSON body of about size bytes holding n cards.
func cardsOfSize(n, size int) []byte {
	base := len(cardsJSON(n, 0))
	return cardsJSON(n, max(0, (size-base)/n))
}

// tokenizeJSON is the inbound rewrite: every card number replaced by a
// token, every cvc removed, all in one Bytes.
func tokenizeJSON(b *testing.B, body []byte, wantCards int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d, err := Parse(JSON, "application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		nums := d.Find("cards.#.number")
		if len(nums) != wantCards {
			b.Fatalf("%d cards", len(nums))
		}
		for _, v := range nums {
			d.Set(v.Path, "tok_2b4f9e1c7a3d5f80")
		}
		for _, v := range d.Find("cards.#.cvc") {
			d.Delete(v.Path)
		}
		if _, err := d.Bytes(); err != nil {
			b.Fatal(err)
		}
		Release(d) // as the tokenize handler does
	}
}

func BenchmarkJSON1KB1Card(b *testing.B)         { tokenizeJSON(b, cardsOfSize(1, 1<<10), 1) }
func BenchmarkJSON64KB100Cards(b *testing.B)     { tokenizeJSON(b, cardsOfSize(100, 64<<10), 100) }
func BenchmarkJSON1MiB1000Cards(b *testing.B)    { tokenizeJSON(b, cardsOfSize(1000, 1<<20), 1000) }
func BenchmarkJSON1MiB1000CardsNew(b *testing.B) { detokenizeJSON(b, cardsOfSize(1000, 1<<20), 1000) }

// detokenizeJSON is the outbound rewrite: each token replaced and two new
// members (cryptogram, eci) added to every card object.
func detokenizeJSON(b *testing.B, body []byte, wantCards int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d, err := Parse(JSON, "application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		nums := d.Find("cards.#.number")
		if len(nums) != wantCards {
			b.Fatalf("%d cards", len(nums))
		}
		for _, v := range nums {
			d.Set(v.Path, "4895370012345678")
			d.Set("cards."+v.Group+".cryptogram", "AgAAAAAABk4DWZ4C28yUQAAAAAA=")
			d.Set("cards."+v.Group+".eci", "07")
		}
		if _, err := d.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForm(b *testing.B) {
	body := []byte("merchant_id=guest&customer_id=cst_om2l6ctlptxwxuzj&card_number=4111111111111111" +
		"&card_exp_month=10&card_exp_year=2030&card_security_code=123&name_on_card=Jane+Doe" +
		"&nickname=my%20visa&order_id=ord_1234567890&amount=1000.00&return_url=https%3A%2F%2Fshop.example%2Fdone")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d, err := Parse(Form, "application/x-www-form-urlencoded", body)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range d.Find("card_number") {
			d.Set(v.Path, "tok_2b4f9e1c7a3d5f80")
		}
		for _, v := range d.Find("card_security_code") {
			d.Delete(v.Path)
		}
		if _, err := d.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMultipart(b *testing.B) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.SetBoundary(testBoundary)
	w.WriteField("merchant_id", "guest")
	w.WriteField("card_number", "4111111111111111")
	w.WriteField("card_exp_month", "10")
	w.WriteField("card_exp_year", "2030")
	w.WriteField("card_security_code", "123")
	fw, _ := w.CreateFormFile("invoice", "invoice.pdf")
	fw.Write(bytes.Repeat([]byte("%PDF-1.7 binary\x00\xff\r\n"), 1000)) // ~20 KB
	w.Close()
	body := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		d, err := Parse(Multipart, mpType, body)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range d.Find("card_number") {
			d.Set(v.Path, "tok_2b4f9e1c7a3d5f80")
		}
		for _, v := range d.Find("card_security_code") {
			d.Delete(v.Path)
		}
		if _, err := d.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRead(b *testing.B, body []byte, encoding string) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if encoding != "" {
			r.Header.Set("Content-Encoding", encoding)
		}
		if _, err := Read(r, 8<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead64KB(b *testing.B)     { benchRead(b, cardsOfSize(100, 64<<10), "") }
func BenchmarkReadGzip64KB(b *testing.B) { benchRead(b, gz(b, cardsOfSize(100, 64<<10)), "gzip") }
