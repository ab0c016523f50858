package body

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// closeTracker records that Read closed the body.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestRead(t *testing.T) {
	plain := []byte(`{"number":"4111111111111111"}`)
	bomb := gz(t, make([]byte, 10<<20)) // ~10 KiB compressed, 10 MiB decoded
	long := bytes.Repeat(plain, 100)    // compresses well: the decoded size is what hits the limit
	tests := []struct {
		name     string
		body     []byte
		encoding string
		limit    int64
		want     []byte
		wantErr  error
		wantEnc  string // *EncodingError with this Encoding
		corrupt  bool
	}{
		{"plain", plain, "", 1 << 20, plain, nil, "", false},
		{"exactly at limit", plain, "", int64(len(plain)), plain, nil, "", false},
		{"one over limit", plain, "", int64(len(plain)) - 1, nil, ErrTooLarge, "", false},
		{"zero limit", plain, "", 0, nil, ErrTooLarge, "", false},
		{"empty", nil, "", 10, []byte{}, nil, "", false},
		{"identity", plain, "identity", 1 << 20, plain, nil, "", false},
		{"gzip", gz(t, plain), "gzip", 1 << 20, plain, nil, "", false},
		{"x-gzip mixed case", gz(t, plain), "X-Gzip", 1 << 20, plain, nil, "", false},
		{"gzip twice", gz(t, gz(t, plain)), "gzip, identity, gzip", 1 << 20, plain, nil, "", false},
		{"gzip decoded exactly at limit", gz(t, long), "gzip", int64(len(long)), long, nil, "", false},
		{"gzip decoded over limit", gz(t, long), "gzip", int64(len(long)) - 1, nil, ErrTooLarge, "", false},
		{"gzip compressed over limit", gz(t, plain), "gzip", int64(len(gz(t, plain))) - 1, nil, ErrTooLarge, "", false},
		{"gzip bomb", bomb, "gzip", 1 << 20, nil, ErrTooLarge, "", false},
		{"corrupt gzip", []byte("not gzip at all 4111111111111111"), "gzip", 1 << 20, nil, nil, "gzip", true},
		{"truncated gzip", gz(t, plain)[:20], "gzip", 1 << 20, nil, nil, "gzip", true},
		{"gzip with trailing garbage", append(gz(t, plain), "garbage"...), "gzip", 1 << 20, nil, nil, "gzip", true},
		{"unknown encoding", plain, "br", 1 << 20, nil, nil, "br", false},
		{"unknown among known", gz(t, plain), "gzip, deflate", 1 << 20, nil, nil, "deflate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &closeTracker{Reader: bytes.NewReader(tt.body)}
			r := httptest.NewRequest("POST", "/", nil)
			r.Body = body
			r.ContentLength = int64(len(tt.body))
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			got, err := Read(r, tt.limit)
			if !body.closed {
				t.Error("body not closed")
			}
			if tt.wantEnc != "" {
				var ee *EncodingError
				if !errors.As(err, &ee) || ee.Encoding != tt.wantEnc {
					t.Fatalf("error %v, want EncodingError %q", err, tt.wantEnc)
				}
				if (errors.Unwrap(err) != nil) != tt.corrupt {
					t.Fatalf("Unwrap = %v, corrupt = %v", errors.Unwrap(err), tt.corrupt)
				}
				if !strings.Contains(err.Error(), tt.wantEnc) || strings.Contains(err.Error(), "4111") {
					t.Fatalf("error message %q", err)
				}
				return
			}
			if err != tt.wantErr {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestReadUnknownLengthAndNoBody(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 100_000)
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big[:1]), bytes.NewReader(big[1:]))) // chunked: length unknown
	r.ContentLength = -1
	got, err := Read(r, 1<<20)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("unknown length: %d bytes, %v", len(got), err)
	}
	r.Body = http.NoBody
	if got, err := Read(r, 10); err != nil || len(got) != 0 {
		t.Fatalf("NoBody: %q %v", got, err)
	}
	r.Body = nil
	if got, err := Read(r, 10); err != nil || len(got) != 0 {
		t.Fatalf("nil body: %q %v", got, err)
	}
}

// A stale Content-Length (a placeholder replaced the body) must not matter.
func TestReadStaleContentLength(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("0123456789"))
	r.ContentLength = 3
	if got, err := Read(r, 100); err != nil || string(got) != "0123456789" {
		t.Fatalf("%q %v", got, err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("0123"))
	r.ContentLength = 1 << 40
	if got, err := Read(r, 100); err != nil || string(got) != "0123" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestReadMaxBytesReader(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("0123456789"))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 4)
	if _, err := Read(r, 100); err != ErrTooLarge {
		t.Fatalf("error %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadError(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = io.NopCloser(failingReader{})
	if _, err := Read(r, 100); err == nil || err == ErrTooLarge {
		t.Fatalf("error %v", err)
	}
}

func TestReplace(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("old"))
	r.Header.Set("Expect", "100-continue")
	r.Header.Set("Content-Encoding", "gzip")
	r.Header.Set("Content-Length", "3")
	r.TransferEncoding = []string{"chunked"}
	r.ContentLength = 0
	b := []byte(`{"number":"tok_1"}`)
	Replace(r, b)
	if r.ContentLength != int64(len(b)) || r.Header.Get("Content-Length") != "18" {
		t.Fatalf("lengths %d %q", r.ContentLength, r.Header.Get("Content-Length"))
	}
	for _, h := range []string{"Expect", "Content-Encoding"} {
		if r.Header.Get(h) != "" {
			t.Errorf("%s still set", h)
		}
	}
	if r.TransferEncoding != nil {
		t.Error("TransferEncoding still set")
	}
	if _, ok := r.Body.(io.WriterTo); !ok {
		t.Error("body lost io.WriterTo")
	}
	for i := 0; i < 2; i++ { // Body, then GetBody as on a retry
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, b) {
			t.Fatalf("read %d: %q", i, got)
		}
		var err error
		if r.Body, err = r.GetBody(); err != nil {
			t.Fatal(err)
		}
	}

	Replace(r, nil)
	if r.ContentLength != 0 || r.Body != http.NoBody || r.Header.Get("Content-Length") != "0" {
		t.Fatalf("empty: %d %v %q", r.ContentLength, r.Body, r.Header.Get("Content-Length"))
	}
}

// The round trip the handlers do: Read a gzip body, edit, Replace.
func TestReadEditReplace(t *testing.T) {
	in := []byte(`{"card":{"number":"4111111111111111","cvc":"123"}}`)
	r := httptest.NewRequest("POST", "/", bytes.NewReader(gz(t, in)))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Content-Encoding", "gzip")
	data, err := Read(r, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(KindOf(r.Header.Get("Content-Type")), r.Header.Get("Content-Type"), data)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("card.number", "tok_1")
	d.Delete("card.cvc")
	out, _ := d.Bytes()
	Replace(r, out)
	got, _ := io.ReadAll(r.Body)
	if string(got) != `{"card":{"number":"tok_1"}}` || r.ContentLength != int64(len(got)) {
		t.Fatalf("%q %d", got, r.ContentLength)
	}
}
