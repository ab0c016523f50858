package body

import (
	"bytes"
	"io"
	"slices"
)

// Stream is Bytes without building the edited body: open returns a new
// reader over it each time it is called (a retry reads it again) and size
// is its length. The reader takes the untouched bytes from the body passed
// to Parse, which must stay unchanged while any reader is in use, and the
// edits from its own copy of them, so doc may be released at once. A big
// body is then held once, not twice (as received, and as edited), all the
// way to the upstream. ok is false when doc cannot stream (not JSON, or a
// Set only sjson can apply): call Bytes.
func Stream(doc Doc) (open func() io.ReadCloser, size int64, ok bool) {
	d, isJSON := doc.(*jsonDoc)
	if !isJSON || len(d.pending) > 0 {
		return nil, 0, false
	}
	if len(d.ops) == 0 && len(d.anchors) == 0 {
		data := d.data
		return func() io.ReadCloser { return io.NopCloser(bytes.NewReader(data)) }, int64(len(data)), true
	}
	arenaLen := len(d.sp.arena)
	sp := d.splices()
	n := sp.plan(len(d.data))
	e := &edited{data: d.data, arena: slices.Clone(sp.arena)}
	e.sp = make([]splice, 0, len(sp.sp))
	for _, x := range sp.sp {
		if x.seq >= 0 {
			e.sp = append(e.sp, x)
		}
	}
	d.sp.arena = d.sp.arena[:arenaLen]
	return e.open, int64(n), true
}

// edited is a body with its splices (ordered, none nested), to be read.
type edited struct {
	data  []byte
	sp    []splice
	arena []byte
}

func (e *edited) open() io.ReadCloser { return &editedReader{e: e, gap: true} }

// editedReader reads an edited body segment by segment: the bytes before
// each splice, the splice's text, and after the last one the rest.
type editedReader struct {
	e    *edited
	i    int    // the next splice
	cur  int    // where in data the next gap starts
	gap  bool   // the next segment is the gap before splice i
	done bool   // the last segment was handed out
	seg  []byte // what is left of the current segment
}

// next returns the next segment, or false at the end.
func (r *editedReader) next() ([]byte, bool) {
	e := r.e
	switch {
	case r.i < len(e.sp) && r.gap:
		r.gap = false
		return e.data[r.cur:e.sp[r.i].start], true
	case r.i < len(e.sp):
		x := e.sp[r.i]
		r.i, r.cur, r.gap = r.i+1, x.end, true
		return e.arena[x.off : x.off+x.n], true
	case !r.done:
		r.done = true
		return e.data[r.cur:], true
	}
	return nil, false
}

func (r *editedReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.seg) == 0 {
			seg, ok := r.next()
			if !ok {
				return n, io.EOF
			}
			r.seg = seg
			continue
		}
		k := copy(p[n:], r.seg)
		r.seg, n = r.seg[k:], n+k
	}
	return n, nil
}

// WriteTo writes the segments as they are, without a copy through a
// buffer (io.Copy uses it).
func (r *editedReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.seg) == 0 {
			seg, ok := r.next()
			if !ok {
				return total, nil
			}
			r.seg = seg
			continue
		}
		k, err := w.Write(r.seg)
		r.seg, total = r.seg[k:], total+int64(k)
		if err != nil {
			return total, err
		}
	}
}

// Close does nothing: the body is in memory.
func (r *editedReader) Close() error { return nil }
