package body

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// readOld is Read as it was before ReadInto (each body read into memory
// of its own), kept to compare the new code with (read_same_test.go).
func readOld(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	codings, err := contentCodings(r.Header.Values("Content-Encoding"))
	if err != nil {
		r.Body.Close()
		return nil, err
	}
	data, err := readLimitedOld(r.Body, limit, r.ContentLength)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	for i := len(codings) - 1; i >= 0 && len(data) > 0; i-- {
		if data, err = gunzipOld(data, limit); err != nil {
			if err == ErrTooLarge {
				return nil, err
			}
			return nil, &EncodingError{Encoding: codings[i], err: err}
		}
	}
	return data, nil
}

func readLimitedOld(rd io.Reader, limit, sizeHint int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	hint := int64(512)
	if sizeHint >= 0 {
		hint = sizeHint
	}
	hint = min(hint, limit) + 1
	buf := make([]byte, 0, hint)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
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
				return nil, ErrTooLarge
			}
			return nil, fmt.Errorf("reading request body: %w", err)
		}
	}
}

func gunzipOld(data []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	hint := int64(-1)
	if len(data) >= 4 {
		hint = int64(binary.LittleEndian.Uint32(data[len(data)-4:]))
	}
	return readLimitedOld(zr, limit, hint)
}
