package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Origin is what an entry says of the request an access came through: the
// host's request id, the W3C trace id and the caller's API key id. The
// host (caddymodule) puts it in the request's context, so that the
// Caddy-free parts that record (the served APIs, webhooks) fill their
// entries with it.
type Origin struct {
	RequestID string
	TraceID   string
	APIKey    string
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginOf returns the origin ctx carries, or none.
func OriginOf(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}

// Fill sets e's request id, trace id and API key id from ctx's origin
// where e has none.
func Fill(ctx context.Context, e *Entry) {
	o := OriginOf(ctx)
	if e.RequestID == "" {
		e.RequestID = o.RequestID
	}
	if e.TraceID == "" {
		e.TraceID = o.TraceID
	}
	if e.APIKey == "" {
		e.APIKey = o.APIKey
	}
}

// KeyIDLen is how many hex digits of an API key's SHA-256 an entry keeps:
// enough to tell a gateway's keys apart, the prefix of what `caddy
// tokengate hash-key` prints and a key_sha256 config holds.
const KeyIDLen = 12

// APIKeyID is the id of an API key in an entry: the first KeyIDLen hex digits
// of its SHA-256; "" for no key.
func APIKeyID(key string) string {
	if key == "" {
		return ""
	}
	return KeyIDOf(sha256.Sum256([]byte(key)))
}

// KeyIDOf is APIKeyID for a key's SHA-256.
func KeyIDOf(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:KeyIDLen/2])
}

// WithAPIKey returns ctx with its origin's API key id set to id (an API
// authenticates its caller after the host made the origin).
func WithAPIKey(ctx context.Context, id string) context.Context {
	o := OriginOf(ctx)
	o.APIKey = id
	return WithOrigin(ctx, o)
}
