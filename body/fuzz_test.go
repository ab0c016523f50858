package body

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzForm: whatever urlencoded body parses, setting and deleting fields
// changes exactly those fields, as url.ParseQuery reads the result.
func FuzzForm(f *testing.F) {
	f.Add("card_number=4111111111111111&card_cvc=123&x=%41%2b+b", byte(0), byte(1))
	f.Add("a=1&a=2&&b&c=", byte(1), byte(2))
	f.Add("%zz=1", byte(0), byte(0))
	f.Fuzz(func(t *testing.T, in string, pick, op byte) {
		d, err := Parse(Form, "", []byte(in))
		if err != nil {
			return
		}
		before, perr := url.ParseQuery(in)
		if perr != nil {
			return // ';' and the like: url.ParseQuery is stricter than forms in the wild
		}
		names := make([]string, 0, len(before))
		for n := range before {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(names) == 0 {
			return
		}
		name := names[int(pick)%len(names)]
		if op%2 == 0 {
			d.Set(name, "tok_&=+ é")
		} else {
			d.Delete(name)
		}
		out, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		after, err := url.ParseQuery(string(out))
		if err != nil {
			t.Fatalf("edited body does not parse: %q -> %q: %v", in, out, err)
		}
		for _, n := range names {
			want := before[n]
			if n == name {
				if op%2 == 0 {
					want = append([]string{"tok_&=+ é"}, want[1:]...)
				} else {
					want = want[1:]
				}
			}
			if len(want) == 0 {
				want = nil
			}
			if !slices.Equal(after[n], want) {
				t.Fatalf("field %q: %q, want %q (in %q, out %q)", n, after[n], want, in, out)
			}
		}
	})
}

// FuzzMultipart: a body this package parses reads the same through
// mime/multipart, and an edited one still does, with the edit in it.
func FuzzMultipart(f *testing.F) {
	f.Add("--XX\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n4111111111111111\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n", byte(0))
	f.Add("--XX\nContent-Disposition: form-data; name=a\n\n1\n--XX--\n", byte(1))
	f.Fuzz(func(t *testing.T, in string, pick byte) {
		const ct = "multipart/form-data; boundary=XX"
		d, err := Parse(Multipart, ct, []byte(in))
		if err != nil {
			return
		}
		want, err := mimeParts(in)
		if err != nil {
			return // mime/multipart refuses what we accepted: both refuse or both read alike below
		}
		doc := d.(*multipartDoc)
		if len(doc.parts) != len(want) {
			t.Fatalf("%d parts, mime/multipart reads %d", len(doc.parts), len(want))
		}
		for i, p := range doc.parts {
			if p.name != want[i][0] || doc.content(&p) != want[i][1] {
				t.Fatalf("part %d: %q=%q, mime/multipart reads %q=%q", i, p.name, doc.content(&p), want[i][0], want[i][1])
			}
		}
		if len(want) == 0 || want[int(pick)%len(want)][0] == "" {
			return
		}
		name := want[int(pick)%len(want)][0]
		d.Set(name, "tok_x")
		out, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		got, err := mimeParts(string(out))
		if err != nil {
			t.Fatalf("edited body does not parse: %v", err)
		}
		for _, p := range got {
			if p[0] == name {
				if p[1] != "tok_x" {
					t.Fatalf("field %q is %q after Set", name, p[1])
				}
				break
			}
		}
	})
}

// mimeParts reads every part's form name and content with mime/multipart.
func mimeParts(body string) ([][2]string, error) {
	r := multipart.NewReader(strings.NewReader(body), "XX")
	var out [][2]string
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{p.FormName(), string(b)})
	}
}

// FuzzGzipRead: Read never panics, never returns more than the limit, and
// refuses a body it cannot decode with ErrTooLarge or an EncodingError.
func FuzzGzipRead(f *testing.F) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(`{"card":{"number":"4111111111111111"}}`))
	zw.Close()
	f.Add(z.Bytes(), "gzip")
	f.Add([]byte("not gzip"), "gzip, identity")
	f.Add(bytes.Repeat([]byte{0x1f, 0x8b}, 10), "x-gzip")
	f.Fuzz(func(t *testing.T, in []byte, encoding string) {
		const limit = 1024
		r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(in))
		r.Header.Set("Content-Encoding", encoding)
		out, err := Read(r, limit)
		var encErr *EncodingError
		switch {
		case err == nil:
			if len(out) > limit {
				t.Fatalf("%d bytes read past the limit", len(out))
			}
		case errors.Is(err, ErrTooLarge), errors.As(err, &encErr):
		default:
			t.Fatalf("unexpected error %T %v", err, err)
		}
	})
}
