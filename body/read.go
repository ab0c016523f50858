package body

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// ErrTooLarge is returned by Read when the body, or the body once decoded,
// is larger than the limit; the caller answers 413 Content Too Large.
var ErrTooLarge = errors.New("request body too large")

// EncodingError is returned by Read when the body's Content-Encoding is not
// one the gateway can decode, or the body does not decode. The gateway must
// see the plain body to find cards in it, so such a body cannot be passed
// through. The caller answers 415 Unsupported Media Type when Unwrap returns
// nil (an unsupported encoding) and 400 Bad Request otherwise (a corrupt
// body).
type EncodingError struct {
	// Encoding is the content coding at fault, as sent ("br", "gzip").
	Encoding string

	err error // why a supported encoding failed to decode; nil if unsupported
}

// Error names the encoding, and never the body.
func (e *EncodingError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("request body is not valid %s: %v", e.Encoding, e.err)
	}
	return fmt.Sprintf("unsupported request Content-Encoding %q", e.Encoding)
}

// Unwrap returns the decoding error of a corrupt body, and nil when the
// encoding itself is unsupported, so that callers can tell 400 from 415.
func (e *EncodingError) Unwrap() error { return e.err }

// gzipReaders recycles gzip readers: each holds tens of kilobytes of
// decompressor state, too much to allocate per request.
var gzipReaders sync.Pool

// Read reads the request body, at most limit bytes of it, and closes it. It
// reads whatever r.Body is now, because a placeholder such as
// {http.request.body} may already have read and replaced it. A gzip or
// x-gzip Content-Encoding is decoded, since Caddy passes request bodies
// through encoded; the decoded size is held to the same limit so a small
// compressed body cannot expand without bound. The result is the decoded
// body; pass it to Replace, which drops the Content-Encoding header.
func Read(r *http.Request, limit int64) ([]byte, error) {
	return ReadInto(r, limit, nil)
}

// ReadInto is Read reading into buf's memory: an unencoded body that fits
// in cap(buf) comes back sharing buf's array (see SharesMemory), so that a
// caller recycling buf reads a small body without allocating. A body that
// outgrows buf is copied to memory of its own and buf's array is zeroed
// there and then, so no part of a card number is left in it. A gzip body
// is decoded into new memory; buf then holds the encoded bytes.
//
// The caller owns buf throughout: it must zero it before reusing it, and
// must not while data shares it, nor while any string made over data (the
// parsers' values, texts and errors) may still be read.
func ReadInto(r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	codings, err := contentCodings(r.Header.Values("Content-Encoding"))
	if err != nil {
		r.Body.Close()
		return nil, err
	}
	data, err := readLimited(r.Body, limit, r.ContentLength, buf)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	// Codings are listed in the order they were applied: undo the last first.
	for i := len(codings) - 1; i >= 0 && len(data) > 0; i-- {
		if data, err = gunzip(data, limit); err != nil {
			if err == ErrTooLarge {
				return nil, err
			}
			return nil, &EncodingError{Encoding: codings[i], err: err}
		}
	}
	return data, nil
}

// contentCodings returns the gzip codings to undo, ignoring identity, and
// fails on any coding that cannot be decoded.
func contentCodings(values []string) ([]string, error) {
	var codings []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			c = strings.TrimSpace(c)
			switch strings.ToLower(c) {
			case "", "identity":
			case "gzip", "x-gzip":
				codings = append(codings, c)
			default:
				return nil, &EncodingError{Encoding: c}
			}
		}
	}
	return codings, nil
}

// SharesMemory reports whether data lies in buf's array (ReadInto read it
// there), so that buf may not be reused while data is.
func SharesMemory(data, buf []byte) bool {
	if len(data) == 0 || cap(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return at >= start && at < start+uintptr(cap(buf))
}

// readLimited reads rd to the end, failing with ErrTooLarge beyond limit
// bytes. sizeHint (the Content-Length, or the gzip trailer's size) sizes the
// buffer so the common case reads into one allocation; it is capped at the
// limit because it comes from the client. The read goes into into's array
// when its capacity is room enough for the hint; into is zeroed when the
// body outgrows it (see ReadInto).
func readLimited(rd io.Reader, limit, sizeHint int64, into []byte) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	hint := int64(512)
	if sizeHint >= 0 {
		hint = sizeHint
	}
	hint = min(hint, limit) + 1 // +1: room to see the EOF, or the byte too many
	var buf []byte
	if int64(cap(into)) >= hint {
		buf = into[:0]
	} else {
		buf = make([]byte, 0, hint)
	}
	for {
		if len(buf) == cap(buf) {
			grown := append(buf, 0)[:len(buf)]
			if SharesMemory(buf, into) {
				clear(into[:cap(into)]) // the caller's memory keeps no part of the body
			}
			buf = grown
		}
		room := min(int64(cap(buf)), limit+1)
		n, err := rd.Read(buf[len(buf):room])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, ErrTooLarge // a request_body max_size below ours
			}
			return nil, fmt.Errorf("reading request body: %w", err)
		}
	}
}

// gunzip decodes one gzip layer, holding the output to limit bytes.
func gunzip(data []byte, limit int64) ([]byte, error) {
	src := bytes.NewReader(data)
	var zr *gzip.Reader
	if v, ok := gzipReaders.Get().(*gzip.Reader); ok {
		zr = v
		if err := zr.Reset(src); err != nil {
			gzipReaders.Put(zr)
			return nil, err
		}
	} else {
		var err error
		if zr, err = gzip.NewReader(src); err != nil {
			return nil, err
		}
	}
	defer gzipReaders.Put(zr)
	// The trailer's ISIZE is the decoded size mod 2^32: a good first guess.
	hint := int64(-1)
	if len(data) >= 4 {
		hint = int64(binary.LittleEndian.Uint32(data[len(data)-4:]))
	}
	return readLimited(zr, limit, hint, nil)
}

// Replace puts b back as the request body. It sets r.ContentLength and the
// Content-Length header to len(b), because reverse_proxy sends no body at
// all when ContentLength is 0; it drops Transfer-Encoding (the length is now
// known), Expect (the body has been read: a second 100 Continue would
// confuse the client) and Content-Encoding (b is decoded); and it sets
// r.GetBody so the transport can resend the body on a retry.
func Replace(r *http.Request, b []byte) {
	replaceHeaders(r, int64(len(b)))
	if len(b) == 0 {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	// io.NopCloser keeps bytes.Reader's WriterTo, so the proxy can write
	// the body without an intermediate buffer; and net/http knows it for
	// an in-memory reader (isKnownInMemoryReader), so it sends the headers
	// and the body in one write. A type of our own would lose that.
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

// ReplaceStream is Replace for a body read from open (see Stream), size
// bytes long: open gives the body, and again the transport's retries.
func ReplaceStream(r *http.Request, open func() io.ReadCloser, size int64) {
	if size == 0 {
		Replace(r, nil)
		return
	}
	replaceHeaders(r, size)
	r.Body = open()
	r.GetBody = func() (io.ReadCloser, error) { return open(), nil }
}

// replaceHeaders is what Replace does to the request besides the body.
func replaceHeaders(r *http.Request, size int64) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body.Close() // normally already closed by Read; Close is idempotent there
	}
	r.ContentLength = size
	if v := r.Header["Content-Length"]; len(v) == 1 {
		// The usual case: the value written in place, not a new slice.
		// (net/http's header reader gives each name its own slice.)
		v[0] = strconv.FormatInt(size, 10)
	} else {
		r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	r.Header.Del("Expect")
	r.Header.Del("Content-Encoding")
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
}
