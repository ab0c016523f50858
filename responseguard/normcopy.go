package responseguard

import "sync"

// normCopy is a normalized copy (normalize) of an answer or of what the
// merchant's request carried, in an array taken from a pool and cleared
// before it goes back: it holds card data. The zero value has none yet.
type normCopy struct {
	p   *[]byte
	buf []byte // the pooled array, as long as the longest copy made in it
}

// normCopies are normCopy's arrays, all zero while in the pool.
var normCopies = sync.Pool{New: func() any { return new([]byte) }}

// normalize normalizes in into the copy's array, grown to len(in) bytes
// if it has less room (normalizing never lengthens: every escape it
// decodes is longer than its character, so the copy never moves). The
// result is valid until the next call or release.
func (c *normCopy) normalize(in []byte) []byte {
	if c.p == nil {
		c.p = normCopies.Get().(*[]byte)
		c.buf = (*c.p)[:0]
	}
	if cap(c.buf) < len(in) {
		// The array held the previous copy: cleared before it is
		// dropped for a larger one.
		clear(c.buf)
		c.buf = make([]byte, 0, len(in))
	}
	out := normalize(c.buf[:0], in, true)
	c.buf = c.buf[:max(len(c.buf), len(out))] // what release clears
	return out
}

// release clears the array and gives it back; one larger than maxPooled
// is cleared and left to the collector.
func (c *normCopy) release() {
	if c.p == nil {
		return
	}
	clear(c.buf)
	if cap(c.buf) <= maxPooled {
		*c.p = c.buf[:0]
		normCopies.Put(c.p)
	}
	*c = normCopy{}
}
