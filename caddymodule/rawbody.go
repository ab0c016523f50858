package caddymodule

import (
	"sync"

	"github.com/tokengate/tokengate/body"
)

// rawBodySize is the capacity of a recycled read buffer: a checkout body
// (about 1 KiB in bench/run) and many times it. A bigger body is read into
// memory of its own (body.ReadInto), as before buffers were recycled.
const rawBodySize = 8 << 10

// rawBodies recycles the buffers inbound request bodies are read into:
// reading a checkout's body was an allocation of its size on every request.
// Only zeroed buffers are in it (rawBody.release).
var rawBodies = sync.Pool{New: func() any { return &rawBody{b: make([]byte, rawBodySize)} }}

// rawBody is one request's read buffer. The body read into it holds card
// numbers and CVVs, and the parsers' values, texts and errors are strings
// over it (unsafe.String, no copy), so it goes back to the pool only where
// nothing can read it any more, and zeroed.
type rawBody struct {
	b []byte
}

// getRawBody returns a zeroed buffer for one request's body.
func getRawBody() *rawBody { return rawBodies.Get().(*rawBody) }

// holds reports whether raw, a body read with body.ReadInto into rb.b, is in
// rb's memory: then rb may be released only once raw, and every string made
// over it, are no longer read.
func (rb *rawBody) holds(raw []byte) bool { return body.SharesMemory(raw, rb.b) }

// release zeroes the buffer and gives it back for another request. The
// caller must know that nothing reads it any more: not the body read into
// it, nor any string made over that body.
func (rb *rawBody) release() {
	clear(rb.b[:cap(rb.b)])
	if rawBodyReleased != nil {
		rawBodyReleased(rb.b)
	}
	rawBodies.Put(rb)
}

// rawBodyReleased, set by tests only, sees each buffer as it is given back
// (rawbody_test.go checks it is zeroed, then poisons it to show nothing
// still reads it).
var rawBodyReleased func(b []byte)
