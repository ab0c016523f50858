package cvvredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault"
)

// ShortLived keeps short-lived cards (Juspay's ctkn_, cards kept without
// consent) in Redis beside the CVVs, so that every gateway of a deployment
// can pay with one, whichever issued it. A record holds the PAN sealed
// already; the whole record is sealed once more, bound to its tenant and
// token, so that nothing in Redis reads as card data or can be moved to
// another token. Each expires with its TTL.
type ShortLived struct {
	client *redis.Client
	keys   *keys.Keys
	names  keyNames
}

// NewShortLived returns a store on client, sealing with ks, keeping its keys
// under prefix.
func NewShortLived(client *redis.Client, ks *keys.Keys, prefix string) *ShortLived {
	return &ShortLived{client: client, keys: ks, names: newKeyNames(ks, prefix)}
}

func (s *ShortLived) key(tenant, token string) string { return s.names.name("card", tenant, token) }

const recordPurpose = "short-lived card"

// PutShortLived implements vault.ShortLivedStore.
func (s *ShortLived) PutShortLived(ctx context.Context, rec vault.Record, ttl time.Duration) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cvvredis: encoding a short-lived card: %w", err)
	}
	sealed, err := s.keys.SealValue(recordPurpose, rec.Tenant, rec.Token, data)
	if err != nil {
		return fmt.Errorf("cvvredis: sealing: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.client.Set(ctx, s.key(rec.Tenant, rec.Token), sealed, ttl).Err(); err != nil {
		return fmt.Errorf("cvvredis: put short-lived card: %w", err)
	}
	return nil
}

// GetShortLived implements vault.ShortLivedStore.
func (s *ShortLived) GetShortLived(ctx context.Context, tenant, token string) (vault.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sealed, err := s.client.Get(ctx, s.key(tenant, token)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return vault.Record{}, vault.ErrNotFound
	case err != nil:
		return vault.Record{}, fmt.Errorf("cvvredis: get short-lived card: %w", err)
	}
	data, err := s.keys.OpenValue(recordPurpose, tenant, token, sealed)
	if err != nil {
		return vault.Record{}, errors.New("cvvredis: a short-lived card does not open (another keyset, or moved)")
	}
	var rec vault.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return vault.Record{}, fmt.Errorf("cvvredis: decoding a short-lived card: %w", err)
	}
	return rec, nil
}

// DeleteShortLived implements vault.ShortLivedStore.
func (s *ShortLived) DeleteShortLived(ctx context.Context, tenant, token string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := s.client.Del(ctx, s.key(tenant, token)).Result()
	switch {
	case err != nil:
		return fmt.Errorf("cvvredis: delete short-lived card: %w", err)
	case n == 0:
		return vault.ErrNotFound
	}
	return nil
}

// Interface guard.
var _ vault.ShortLivedStore = (*ShortLived)(nil)
