package body

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// Stream must give exactly what Bytes gives, read in small pieces, with
// WriteTo, and again for a retry.
func TestStreamMatchesBytes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		edit     func(Doc)
	}{
		{"unedited", `{"a":1}`, func(Doc) {}},
		{"set and delete", `{"cards":[{"number":"4111111111111111","cvc":"123"},{"number":"5555555555554444","cvc":"9"}],"z":true}`, func(d Doc) {
			for _, v := range d.Find("cards.#.number") {
				d.Set(v.Path, "tok_"+v.Group)
			}
			for _, v := range d.Find("cards.#.cvc") {
				d.Delete(v.Path)
			}
		}},
		{"insert and nest", ` { "p" : { "card" : { "n" : "x" } } , "q" : [1, 2, 3] } `, func(d Doc) {
			d.Set("p.card.cryptogram", "c\"q")
			d.SetRaw("p.card.eci", "5")
			d.Delete("q.1")
			d.Set("p.card", "outer")
			d.Set("p.card.n", "inner")
		}},
		{"edit at both ends", `{"first":"1","last":"2"}`, func(d Doc) {
			d.Set("first", "a")
			d.Set("last", "b")
		}},
		{"big", string(cardsOfSize(50, 64<<10)), func(d Doc) {
			for _, v := range d.Find("cards.#.number") {
				d.Set(v.Path, "tok_2b4f9e1c7a3d5f80")
			}
			for _, v := range d.Find("cards.#.cvc") {
				d.Delete(v.Path)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(JSON, "", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(d)
			want, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			open, size, ok := Stream(d)
			if !ok {
				t.Fatal("cannot stream")
			}
			Release(d) // the stream must not depend on the doc
			if size != int64(len(want)) {
				t.Fatalf("size %d, want %d", size, len(want))
			}
			got, err := io.ReadAll(iotest.OneByteReader(open()))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %q %v\nwant %q", got, err, want)
			}
			var buf bytes.Buffer
			if _, err := open().(io.WriterTo).WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("WriteTo %q %v\nwant %q", buf.Bytes(), err, want)
			}
			if err := iotest.TestReader(open(), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A Set sjson must apply (an array index past the end) is left to Bytes.
func TestStreamDeclinesPendingSets(t *testing.T) {
	d, err := Parse(JSON, "", []byte(`{"a":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	d.Set("a.5", "x")
	if _, _, ok := Stream(d); ok {
		t.Fatal("streamed a Set only sjson can apply")
	}
	f, _ := Parse(Form, "", []byte("a=1"))
	if _, _, ok := Stream(f); ok {
		t.Fatal("streamed a form")
	}
}
