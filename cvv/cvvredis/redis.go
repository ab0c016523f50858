// Package cvvredis holds CVVs in Redis, shared by several gateways: each CVV
// is sealed (AEAD; tenant and token as associated data) before it leaves
// the process, kept with its TTL, and taken once with GETDEL, so it is never
// readable in Redis and never used twice.
package cvvredis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
)

// timeout bounds every Redis call: a store that stops answering costs a
// request a bounded wait.
const timeout = 2 * time.Second

// Options are the client options for a store on Redis at addr.
func Options(addr, password string, db int) *redis.Options {
	return &redis.Options{
		Addr: addr, Password: password, DB: db,
		// RESP2: the stores use plain commands (SET, GET, GETDEL, DEL),
		// and under RESP3 go-redis checks the connection for push
		// notifications around every round trip: CPU on every CVV held or
		// taken, for nothing the stores use.
		Protocol: 2,
	}
}

// Store is safe for concurrent use.
type Store struct {
	client *redis.Client
	keys   *keys.Keys
	names  keyNames
	puts   *putBatcher
}

// New returns a store on client, sealing with ks, keeping its keys under
// prefix (so several deployments or tests can share one Redis).
func New(client *redis.Client, ks *keys.Keys, prefix string) *Store {
	return &Store{client: client, keys: ks, names: newKeyNames(ks, prefix), puts: newPutBatcher(client)}
}

func (s *Store) key(tenant, token string) string { return s.names.name("cvv", tenant, token) }

const purpose = "cvv"

// PutCVV implements cvv.Store.
func (s *Store) PutCVV(ctx context.Context, tenant, token, value string, ttl time.Duration) error {
	// The CVV is copied into the pooled request for sealing, and its key
	// built there: no allocation of either per CVV (batch.go).
	req := getPutReq()
	plain := req.plainOf(value)
	sealed, err := s.keys.SealValue(purpose, tenant, token, plain)
	clear(plain)
	if err != nil {
		req.release()
		return fmt.Errorf("cvvredis: sealing: %w", err)
	}
	req.key.b = s.names.appendName(req.key.b[:0], "cvv", tenant, token)
	req.set(sealed, ttl)
	// Batched with the other requests' CVVs: one pipeline (batch.go),
	// whose wait is bounded by the store's timeout there.
	if err := s.puts.put(ctx, req); err != nil {
		return putFailed(err)
	}
	return nil
}

// TakeCVV implements cvv.Store: GETDEL, so two gateways racing for one CVV
// get it once between them.
func (s *Store) TakeCVV(ctx context.Context, tenant, token string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sealed, err := s.client.GetDel(ctx, s.key(tenant, token)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("cvvredis: take: %w", err)
	}
	plain, err := s.keys.OpenValue(purpose, tenant, token, sealed)
	if err != nil {
		return "", false, fmt.Errorf("cvvredis: the held CVV does not open (another keyset, or moved)")
	}
	defer clear(plain)
	return string(plain), true, nil
}

// Interface guard.
var _ cvv.Store = (*Store)(nil)
