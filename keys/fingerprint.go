package keys

import (
	"encoding/hex"

	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"

	"github.com/tokengate/tokengate/keys/macpool"
)

// hmacPRF computes the primary HMAC-SHA256 PRF key's output as Tink's PRF
// does, with keyed HMAC states kept in a pool (macpool): Tink's ComputePRF
// makes a new HMAC (its two SHA-256 states and pads) for every call, nine
// allocations per fingerprint, and a fingerprint is computed for every card
// of every request.
type hmacPRF struct {
	macs *macpool.Pool
}

// newHMACPRF returns the pooled PRF of ph's primary key, or nil when that
// key is not an HMAC-SHA256 PRF key or its output is not tink's (then
// Fingerprint uses tink's PRF). The key bytes stay in this package and
// macpool, as tink's own do in its primitive.
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
	p := &hmacPRF{macs: macpool.New(k.KeyBytes().Data(insecuresecretdataaccess.Token{}))}
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
	sum := p.macs.Sum(func(buf []byte) []byte {
		return append(append(append(buf, tenant...), 0), pan...)
	})
	var hexed [2 * len(sum)]byte
	hex.Encode(hexed[:], sum[:])
	clear(sum[:])
	return string(hexed[:])
}
