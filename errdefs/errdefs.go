// Package errdefs holds the few errors every layer of tokengate shares, so
// that a caller far from where a failure happened (a Caddy handler, a served
// API) can tell its kind with errors.Is, whatever package wrapped it on the
// way up. It imports nothing of tokengate, so that any package can use it
// without an upward import.
package errdefs

import "errors"

// ErrUnavailable means a service the gateway depends on (the vault, the
// keys, the CVV store, a network token provider) failed, so the call did
// nothing it promised: no card was stored, nothing was forwarded. It is
// never the caller's fault; the answer is 503 and the call can be retried.
// Packages wrap it with where it happened (tokenize.ErrUnavailable,
// detokenize.ErrUnavailable, providerhttp.ErrUnavailable); callers match
// this one.
var ErrUnavailable = errors.New("unavailable")

// ErrUnreadable means a stored card's record was found and does not open
// with the gateway's keys: sealed with a keyset the gateway does not hold,
// or altered or moved. Retrying cannot help and nothing was forwarded; the
// answer says the record cannot be opened, not that a service is down.
var ErrUnreadable = errors.New("record cannot be opened with this gateway's keys")
