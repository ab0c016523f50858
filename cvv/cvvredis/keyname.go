package cvvredis

import (
	"encoding/hex"
	"net/url"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/keys/macpool"
)

// keyNames makes the Redis key names of one store: prefix, kind, tenant and
// a keyed hash of the token, separated by colons (Redis's own convention,
// which redis-cli --scan --pattern and RedisInsight group by), for example
// tokengate:cvv:demo:6c1f0e4d2a9b8c7d5e3f1a2b3c4d5e6f.
//
// The token is hashed, not written: a token is not card data, but it is
// what a merchant pays with, and a key name is seen by far more than the
// value (KEYS, SCAN, MONITOR, the slow log, a replica, an RDB file handed to
// support). An HMAC under a key derived from the keyset's fingerprint key
// means someone who reads Redis cannot tell which tokens have a CVV waiting,
// nor test a token they know; a plain hash would let them test one. The
// values stay sealed to their tenant and token either way. Every gateway of
// a deployment shares the keyset, so every one names a token's key alike.
type keyNames struct {
	prefix string
	// macs holds HMACs keyed with the derived key: hmac.New per key name
	// was ten allocations per CVV held or taken.
	macs *macpool.Pool
}

// keyNameLabel names the derived key; changing it renames every key.
const keyNameLabel = "cvvredis/key-name"

// tokenHashSize is 128 bits: no two tokens a deployment holds at once
// collide, and a collision would only make a value fail to open (it is
// sealed to its token), never hand it to another token.
const tokenHashSize = 16

func newKeyNames(ks *keys.Keys, prefix string) keyNames {
	key := ks.DeriveKey(keyNameLabel)
	return keyNames{prefix: prefix, macs: macpool.New(key)}
}

// name is the key of kind ("cvv", "card") for tenant's token. Tenant names
// in rule sets are [A-Za-z0-9._-] (rules/inbound.go), which QueryEscape
// leaves as they are; tenants configured elsewhere (an API key's tenant)
// could hold a colon, which it escapes, so no tenant's keys can read as
// another's.
func (k keyNames) name(kind, tenant, token string) string {
	var buf [128]byte
	return string(k.appendName(buf[:0], kind, tenant, token))
}

// appendName appends name's bytes to dst: the put batcher builds a CVV's
// key in its pooled request, without a string of its own.
func (k keyNames) appendName(dst []byte, kind, tenant, token string) []byte {
	sum := k.macs.Sum(func(buf []byte) []byte { return append(buf, token...) })
	dst = append(dst, k.prefix...)
	dst = append(dst, kind...)
	dst = append(dst, ':')
	dst = append(dst, url.QueryEscape(tenant)...)
	dst = append(dst, ':')
	return hex.AppendEncode(dst, sum[:tokenHashSize])
}
