package body

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

// readCase is one body for ReadInto and readOld: its bytes, the limit, the
// Content-Length the request announces, the caller's buffer's size and how
// many bytes each Read of the connection gives.
type readCase struct {
	data          []byte
	limit         int64
	contentLength int64 // -1: unknown (chunked)
	bufCap        int
	chunk         int // 0: all that fits
	gzipped       bool
}

// request builds the case's request, its body read chunk bytes at a time.
func (c readCase) request(t testing.TB) *http.Request {
	data := c.data
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if c.gzipped {
		data = gz(t, data)
		r.Header.Set("Content-Encoding", "gzip")
	}
	var rd io.Reader = bytes.NewReader(data)
	if c.chunk > 0 {
		rd = &chunkReader{r: rd, n: c.chunk}
	}
	r.Body = io.NopCloser(rd)
	r.ContentLength = c.contentLength
	return r
}

// chunkReader gives at most n bytes per Read, as a slow connection does.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

const poison = 0xEE // a caller's buffer starts as this, to see what ReadInto leaves

// checkReadAgainstOld reads c with ReadInto into a poisoned buffer and with
// readOld, and fails unless they agree (bytes and error), and unless the
// buffer is left as ReadInto says: holding the body when it fit, zeroed
// when the body outgrew it, untouched when it was too small to start in.
func checkReadAgainstOld(t *testing.T, c readCase) {
	t.Helper()
	want, werr := readOld(c.request(t), c.limit)
	buf := bytes.Repeat([]byte{poison}, c.bufCap)
	got, gerr := ReadInto(c.request(t), c.limit, buf)
	if !sameReadError(gerr, werr) {
		t.Fatalf("%+v: error %v, old %v", c, gerr, werr)
	}
	if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Fatalf("%+v: read %q, old %q", c, got, want)
	}
	if c.gzipped {
		if SharesMemory(got, buf) {
			t.Fatalf("%+v: a decoded body shares the buffer", c)
		}
		return // buf holds the encoded body, or part of it: the caller's to zero
	}
	hint := int64(512)
	if c.contentLength >= 0 {
		hint = c.contentLength
	}
	started := int64(c.bufCap) >= min(hint, max(c.limit, 0))+1
	switch {
	case !started:
		if !allBytes(buf, poison) {
			t.Fatalf("%+v: a buffer too small to start in was written", c)
		}
	case gerr == nil && SharesMemory(got, buf):
		if &got[0] != &buf[0] {
			t.Fatalf("%+v: the body is not at the buffer's start", c)
		}
	case gerr == nil && len(got) > 0:
		// Outgrown: no byte of the body may be left in it.
		if !allBytes(buf, 0) {
			t.Fatalf("%+v: the outgrown buffer still holds %q", c, buf)
		}
	}
}

func allBytes(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}

// sameReadError says whether two Read errors are the same for a caller:
// the same sentinel, the same EncodingError kind, or both another failure.
func sameReadError(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	if errors.Is(a, ErrTooLarge) != errors.Is(b, ErrTooLarge) {
		return false
	}
	ea, aEnc := errors.AsType[*EncodingError](a)
	eb, bEnc := errors.AsType[*EncodingError](b)
	if aEnc != bEnc {
		return false
	}
	if aEnc && (ea.Encoding != eb.Encoding || (ea.Unwrap() == nil) != (eb.Unwrap() == nil)) {
		return false
	}
	return a.Error() == b.Error()
}

func TestReadIntoSameAsOld(t *testing.T) {
	checkout := []byte(`{"card":{"number":"4111111111111111","cvc":"737"},"name":"Ada"}`)
	long := bytes.Repeat(checkout, 40)
	for _, data := range [][]byte{nil, {}, checkout, long} {
		n := int64(len(data))
		for _, limit := range []int64{0, n - 1, n, n + 1, 1 << 20} {
			for _, cl := range []int64{-1, n, n / 2, n + 100} {
				for _, bufCap := range []int{0, 1, 64, int(n), int(n) + 1, 600, 8 << 10} {
					for _, chunk := range []int{0, 1, 7, 100} {
						for _, gzipped := range []bool{false, true} {
							checkReadAgainstOld(t, readCase{data, limit, cl, bufCap, chunk, gzipped})
						}
					}
				}
			}
		}
	}
}

// TestReadIntoZeroesOutgrownBuffer: a body of unknown length larger than
// the buffer is read into new memory, and no byte of its card number is
// left in the buffer it outgrew.
func TestReadIntoZeroesOutgrownBuffer(t *testing.T) {
	data := bytes.Repeat([]byte(`{"number":"4111111111111111"},`), 100)
	buf := make([]byte, 1024)
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(iotest.HalfReader(bytes.NewReader(data))))
	r.ContentLength = -1
	got, err := ReadInto(r, 1<<20, buf)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if SharesMemory(got, buf) || !allBytes(buf, 0) {
		t.Fatalf("the outgrown buffer holds %q", buf)
	}
}

// FuzzReadIntoAgainstOld is TestReadIntoSameAsOld over fuzzed bodies,
// limits, announced lengths, buffer sizes and read sizes.
func FuzzReadIntoAgainstOld(f *testing.F) {
	f.Add([]byte(`{"card":{"number":"4111111111111111"}}`), uint16(4096), int32(-1), uint16(16), uint8(3), false)
	f.Add([]byte(`card_number=4111111111111111&card_cvc=737`), uint16(40), int32(41), uint16(8192), uint8(0), false)
	f.Add([]byte(`{"a":1}`), uint16(100), int32(7), uint16(8), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, cl int32, bufCap uint16, chunk uint8, gzipped bool) {
		checkReadAgainstOld(t, readCase{data, int64(limit), max(int64(cl), -1), int(bufCap), int(chunk), gzipped})
	})
}
