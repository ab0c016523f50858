package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"
)

// hmacPRF computes the primary HMAC-SHA256 PRF key's output as Tink's PRF
// does, with keyed HMAC states kept in a pool: Tink's ComputePRF makes a new
// HMAC (its two SHA-256 states and pads) for every call, nine allocations
// per fingerprint, and a fingerprint is computed for every card of every
// request.
type hmacPRF struct {
	pool sync.Pool // *hmacState
}

// hmacState is one keyed HMAC with its scratch input, reset (holding
// nothing of the last input) whenever it is in the pool.
type hmacState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// newHMACPRF returns the pooled PRF of ph's primary key, or nil when that
// key is not an HMAC-SHA256 PRF key or its output is not tink's (then
// Fingerprint uses tink's PRF). The key bytes stay in this package, as
// tink's own do in its primitive.
func newHMACPRF(ph *keyset.Handle, tinkPRF prf.PRF) *hmacPRF {
	entry, err := ph.Primary()
	if err != nil {
		return nil
	}
	k, ok := entry.Key().(*hmacprf.Key)
	if !ok {
		return nil
	}
	params, ok := k.Parameters().(*hmacprf.Parameters)
	if !ok || params.HashType() != hmacprf.SHA256 {
		return nil
	}
	key := k.KeyBytes().Data(insecuresecretdataaccess.Token{})
	p := &hmacPRF{}
	p.pool.New = func() any {
		mac := hmac.New(sha256.New, key)
		// Reset before any input: the HMAC saves its keyed states now, and
		// every later Reset restores them whole, which overwrites the
		// SHA-256 block buffer that held the last input (a PAN).
		mac.Reset()
		return &hmacState{mac: mac}
	}
	// Prove the outputs equal before using it.
	for _, probe := range [][2]string{{"probe", ""}, {"tenant", "4111111111111111"}} {
		want, err := tinkPRF.ComputePRF([]byte(probe[0]+"\x00"+probe[1]), fingerprintSize)
		if err != nil || p.fingerprint(probe[0], probe[1]) != hex.EncodeToString(want) {
			return nil
		}
	}
	return p
}

// fingerprint is Fingerprint's value through the pool: the hex of the HMAC of
// tenant + "\x00" + pan, one allocation (the string).
func (p *hmacPRF) fingerprint(tenant, pan string) string {
	s := p.pool.Get().(*hmacState)
	s.in = append(append(append(s.in[:0], tenant...), 0), pan...)
	s.mac.Write(s.in)
	var hexed [2 * sha256.Size]byte
	hex.Encode(hexed[:], s.mac.Sum(s.sum[:0]))
	clear(s.in)
	clear(s.sum[:])
	s.mac.Reset()
	p.pool.Put(s)
	return string(hexed[:])
}
