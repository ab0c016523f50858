package responseguard

import (
	"io"
)

// readChunk is how much a Reader asks its source for at a time; memory per
// response is about three times this plus the guard's hold-back.
const readChunk = 32 << 10

// minBatch is how many new bytes, beyond the hold-back, a Reader gathers
// before it redacts a stretch of a stream that has not ended.
const minBatch = 2 << 10

// firstChunk is the room a Reader starts with.
const firstChunk = 4 << 10

// Reader redacts a response body as it streams. A secret or card number
// split across reads of the source is still found: the last g.hold bytes
// are held back until what follows them is known, and g.hold bytes already
// returned stay as context for what follows. Memory stays bounded however
// long a run of digits or a token is: a window of a card number spans at
// most card.MaxSpan bytes.
type Reader struct {
	g    *Guard
	src  io.ReadCloser
	raw  []byte // read from src, not yet normalized
	in   []byte // normalized: in[:from] returned already, kept as context
	from int
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
		if r.err != nil && r.from == len(r.in) && len(r.raw) == 0 {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		if r.err == nil {
			r.fill()
		}
		final := r.err != nil
		var n int
		r.in, n = normalizeStream(r.in, r.raw, final)
		r.raw = r.raw[:copy(r.raw, r.raw[n:])]
		if !final && len(r.in)-r.from < r.g.hold+minBatch {
			// Each pass scans g.hold bytes of context on either side:
			// a source that trickles bytes is read on until a batch is
			// worth it, or the pass would cost as much per byte.
			continue
		}
		r.from = r.g.process(&r.out, r.in, r.from, final, &r.st)
		if drop := r.from - r.g.hold; drop > 0 {
			r.st.lostDigit = isDigit(r.in[drop-1])
			r.in = r.in[:copy(r.in, r.in[drop:])]
			r.from -= drop
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// fill reads from the source into the free room of r.raw, growing it (up
// to readChunk at a time) only when the source fills what it was given:
// most responses are small and should not cost a large buffer.
func (r *Reader) fill() {
	if room := cap(r.raw) - len(r.raw); room < firstChunk || room < readChunk && r.full {
		chunk := firstChunk
		if r.full {
			chunk = readChunk
		}
		grown := make([]byte, len(r.raw), len(r.raw)+chunk+maxEscape)
		copy(grown, r.raw)
		r.raw = grown
	}
	n, err := r.src.Read(r.raw[len(r.raw):cap(r.raw)])
	r.full = len(r.raw)+n == cap(r.raw)
	r.raw = r.raw[:len(r.raw)+n]
	if err != nil {
		r.err = err
	}
}

// Close closes the source.
func (r *Reader) Close() error { return r.src.Close() }
