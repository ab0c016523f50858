// Package macpool keeps HMAC-SHA256 states under one key in a pool:
// hmac.New costs about nine allocations (two SHA-256 states and the pads),
// and fingerprints, Redis key names and network token derivations each
// compute one or more per request.
package macpool

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// Pool is HMAC-SHA256 under one key, its states pooled. Safe for
// concurrent use.
type Pool struct {
	pool sync.Pool // *state
}

// state is one keyed HMAC and its scratch input buffer. In the pool it
// holds nothing of its last input nor of its sum (those may be a card
// number, a DPAN or a cryptogram).
type state struct {
	mac hash.Hash
	buf []byte
}

// New returns the pool of HMAC-SHA256 states under key; key is copied.
func New(key []byte) *Pool {
	key = append([]byte(nil), key...)
	p := &Pool{}
	p.pool.New = func() any {
		mac := hmac.New(sha256.New, key)
		// Reset before any input: the HMAC saves its keyed states now, and
		// every later Reset restores them whole, which overwrites the
		// SHA-256 block buffer that held the last input.
		mac.Reset()
		return &state{mac: mac}
	}
	return p
}

// Sum returns HMAC-SHA256(key, what build appends to the empty scratch
// buffer it is given). It allocates nothing once the pool is warm (build
// does not escape).
func (p *Pool) Sum(build func([]byte) []byte) (sum [sha256.Size]byte) {
	s := p.pool.Get().(*state)
	buf := build(s.buf[:0])
	s.mac.Write(buf)
	buf = s.mac.Sum(buf[:0])
	copy(sum[:], buf)
	s.mac.Reset()
	clear(buf[:cap(buf)])
	s.buf = buf[:0]
	p.pool.Put(s)
	return sum
}
