package redact

import (
	"io"
)

// readChunk is how much a Reader asks its source for at a time; memory per
// response is about twice this plus the guard's hold-back.
const readChunk = 32 << 10

// firstChunk is the room a Reader starts with.
const firstChunk = 4 << 10

// Reader redacts a response body as it streams. A secret or card number
// split across reads of the source is still found, because the last
// g.hold bytes are held back until what follows them is known.
type Reader struct {
	g    *Guard
	src  io.ReadCloser
	in   []byte // read from src, not yet redacted
	out  []byte // redacted, not yet returned
	pos  int    // how much of out was returned
	st   scanState
	err  error // the source's error, io.EOF at the end
	full bool  // the last read filled all the room it had
}

// NewReader redacts src with g.
func (g *Guard) NewReader(src io.ReadCloser) *Reader {
	return &Reader{g: g, src: src}
}

// Count is how many values were replaced so far.
func (r *Reader) Count() int { return r.st.count }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.err != nil && len(r.in) == 0 {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		if r.err == nil {
			r.fill()
		}
		final := r.err != nil
		n := r.g.process(&r.out, r.in, final, &r.st)
		if final {
			n = len(r.in)
		}
		r.in = r.in[:copy(r.in, r.in[n:])]
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// fill reads from the source into the free room of r.in, growing it (up to
// readChunk at a time) only when the source fills what it was given: most
// responses are small and should not cost a large buffer.
func (r *Reader) fill() {
	if room := cap(r.in) - len(r.in); room < firstChunk || room < readChunk && r.full {
		chunk := firstChunk
		if r.full {
			chunk = readChunk
		}
		grown := make([]byte, len(r.in), len(r.in)+chunk+r.g.hold)
		copy(grown, r.in)
		r.in = grown
	}
	n, err := r.src.Read(r.in[len(r.in):cap(r.in)])
	r.full = len(r.in)+n == cap(r.in)
	r.in = r.in[:len(r.in)+n]
	if err != nil {
		r.err = err
	}
}

// Close closes the source.
func (r *Reader) Close() error { return r.src.Close() }
