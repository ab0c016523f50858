// Package boltvault is the embedded vault backend: one bbolt file holding
// every tenant's sealed records, with group commit so concurrent durable
// writes share an fsync, and key-value buckets for other embedded state (the
// built-in network token service's). It commits a unit of work's held
// writes to those buckets (vault.Unit) together with the card record that
// needed them.
package boltvault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/vault"
)

// Bucket layout of the bbolt file. Each tenant gets its own nested bucket so
// tenant names need no escaping and tenants can never see each other's keys:
//
//	vault/<tenant>/tokens/<token>             -> JSON Record
//	vault/<tenant>/fingerprints/<fingerprint> -> token
//	kv/<name>/<id>                            -> opaque bytes (see KV)
//	kv_log/<name>/<sequence>                  -> a KV's keys kept in memory (kvindex.go)
//	network_index/<provider> \x00 <id>       -> <tenant> \x00 <token>
//	meta/...                                  -> the keys that sealed the records (keyids.go)
var (
	bucketNetworkIndex = []byte("network_index")
	bucketVault        = []byte("vault")
	bucketKV           = []byte("kv")
	bucketTokens       = []byte("tokens")
	bucketFingerprints = []byte("fingerprints")
)

// Bolt is the embedded vault backend: one bbolt file holding every tenant's
// records, plus small key-value buckets for other embedded state (KV).
// It is safe for concurrent use.
type Bolt struct {
	db *bolt.DB
	w  *committer // every write goes through it: group commit

	indexesMu sync.Mutex
	indexes   map[string]*memIndex // KV keys kept in memory, by bucket (kvindex.go)
}

// Open opens (or creates) the bbolt file at path. The parent directory is
// created 0700 and the file 0600 because it holds sealed card data. bbolt
// locks the file, and a second open of the same file (also from the same
// process, e.g. during a Caddy reload) fails after one second instead of
// hanging forever; share one *Bolt instead (caddy.UsagePool).
func Open(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("vault: create directory for %s: %w", path, err)
	}
	// The freelist is not written on every commit (NoFreelistSync) but
	// rebuilt by a scan when the file is opened, and kept as a map: per
	// bbolt's documentation this is crash-safe, and it takes a page write
	// and the freelist's growth off every durable Put.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("vault: open %s: file is locked (already open in this or another process): %w", path, err)
		}
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initSealingKeys(tx); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketVault); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketKV); err != nil {
			return err
		}
		return buildNetworkIndex(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("vault: initialize %s: %w", path, err)
	}
	return &Bolt{db: db, w: newCommitter(db)}, nil
}

// now is the backend clock. Timestamps are UTC and truncated to microseconds
// so that every backend (PostgreSQL keeps microseconds) returns equal values.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// tenantBuckets returns the tenant's token and fingerprint buckets, or nils
// when the tenant has never stored anything (read-only transactions).
func tenantBuckets(tx *bolt.Tx, tenant string) (tokens, fps *bolt.Bucket) {
	if tenant == "" {
		return nil, nil
	}
	tb := tx.Bucket(bucketVault).Bucket([]byte(tenant))
	if tb == nil {
		return nil, nil
	}
	return tb.Bucket(bucketTokens), tb.Bucket(bucketFingerprints)
}

// createTenantBuckets is tenantBuckets for writers: it creates what is missing.
func createTenantBuckets(tx *bolt.Tx, tenant string) (tokens, fps *bolt.Bucket, err error) {
	tb, err := tx.Bucket(bucketVault).CreateBucketIfNotExists([]byte(tenant))
	if err != nil {
		return nil, nil, err
	}
	if tokens, err = tb.CreateBucketIfNotExists(bucketTokens); err != nil {
		return nil, nil, err
	}
	fps, err = tb.CreateBucketIfNotExists(bucketFingerprints)
	return tokens, fps, err
}

// loadRecord decodes the record stored under token, or returns ErrNotFound.
func loadRecord(tokens *bolt.Bucket, token string) (vault.Record, error) {
	if tokens == nil || token == "" {
		return vault.Record{}, vault.ErrNotFound
	}
	v := tokens.Get([]byte(token))
	if v == nil {
		return vault.Record{}, vault.ErrNotFound
	}
	// The token is the key the record is filed under, not what its value
	// says: the sealed data is bound to the token, and a value moved under
	// another key must be opened with that key to be refused.
	return decodeRecord(token, v)
}

func storeRecord(tokens *bolt.Bucket, rec vault.Record) error {
	v, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	return storeEncoded(tokens, rec, v)
}

// storeEncoded is storeRecord with rec already encoded as v (encodeRecord),
// so that the encoding is not done in the one writer's transaction.
func storeEncoded(tokens *bolt.Bucket, rec vault.Record, v []byte) error {
	if err := recordSealingKey(tokens.Tx(), rec.Sealed); err != nil {
		return err
	}
	return tokens.Put([]byte(rec.Token), v)
}

func validate(rec vault.Record) error {
	switch {
	case rec.Tenant == "":
		return errors.New("vault: record has no tenant")
	case rec.Token == "":
		return errors.New("vault: record has no token")
	case rec.Fingerprint == "":
		return errors.New("vault: record has no fingerprint")
	}
	return nil
}

// Put implements Vault. Writes go through the committer so concurrent Puts
// share one transaction and one fsync (group commit); Put still returns only
// after its group is on disk.
func (b *Bolt) Put(ctx context.Context, rec vault.Record) (vault.Record, bool, error) {
	return b.put(ctx, nil, rec)
}

func (b *Bolt) put(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, bool, error) {
	if err := validate(rec); err != nil {
		return vault.Record{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return vault.Record{}, false, err
	}
	// The new record is stamped and encoded before it joins a group: the
	// committer's transaction is the one writer for the whole file, so
	// whatever work leaves it lets every card of the group through sooner.
	// Its creation time is then when it was asked for, microseconds earlier.
	rec.CreatedAt = now()
	rec.UpdatedAt = rec.CreatedAt
	rec.Version = 1
	encoded, err := encodeRecord(rec)
	if err != nil {
		return vault.Record{}, false, err
	}
	var (
		stored  vault.Record
		created bool
		outcome error
		held    = b.pendingFor(unit) // writes held for this card's commit
	)
	err = b.w.do(func(tx *bolt.Tx) error {
		// The committer may run this function more than once (when another
		// write of its group fails), so every result is reset here. Expected
		// outcomes such as ErrTokenTaken are not returned as errors: an error
		// would roll back and replay the whole group.
		stored, created, outcome = vault.Record{}, false, nil
		tokens, fps, err := createTenantBuckets(tx, rec.Tenant)
		if err != nil {
			return err
		}
		if tok := fps.Get([]byte(rec.Fingerprint)); tok != nil {
			existing, err := loadRecord(tokens, string(tok))
			if err != nil {
				return fmt.Errorf("vault: fingerprint index points to a missing record: %w", err)
			}
			stored = existing
			return nil
		}
		if tokens.Get([]byte(rec.Token)) != nil {
			outcome = vault.ErrTokenTaken
			return nil
		}
		if err := storeEncoded(tokens, rec, encoded); err != nil {
			return err
		}
		if err := indexNetworkToken(tx, vault.Record{}, rec); err != nil {
			return err
		}
		if err := fps.Put([]byte(rec.Fingerprint), []byte(rec.Token)); err != nil {
			return err
		}
		if err := writeHeld(tx, held); err != nil {
			return err
		}
		stored, created = rec, true
		return nil
	})
	if err != nil {
		return vault.Record{}, false, err
	}
	if outcome != nil {
		return vault.Record{}, false, outcome
	}
	if created {
		unit.Taken(held) // durable now
	}
	return stored, created, nil
}

// Sample returns up to n records of each tenant (the last in token order),
// for checks such as whether the keyset in use opens them.
func (b *Bolt) Sample(n int) ([]vault.Record, error) {
	var out []vault.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVault).ForEachBucket(func(tenant []byte) error {
			tokens, _ := tenantBuckets(tx, string(tenant))
			if tokens == nil {
				return nil
			}
			c := tokens.Cursor()
			i := 0
			for k, v := c.Last(); k != nil && i < n; k, v = c.Prev() {
				rec, err := decodeRecord(string(k), v) // the key, as loadRecord says why
				if err != nil {
					return err
				}
				out = append(out, rec)
				i++
			}
			return nil
		})
	})
	return out, err
}

// Get implements Vault.
func (b *Bolt) Get(_ context.Context, tenant, token string) (vault.Record, error) {
	var rec vault.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		tokens, _ := tenantBuckets(tx, tenant)
		var err error
		rec, err = loadRecord(tokens, token)
		return err
	})
	return rec, err
}

// GetByFingerprint implements Vault.
func (b *Bolt) GetByFingerprint(_ context.Context, tenant, fingerprint string) (vault.Record, error) {
	var rec vault.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		tokens, fps := tenantBuckets(tx, tenant)
		if fps == nil || fingerprint == "" {
			return vault.ErrNotFound
		}
		tok := fps.Get([]byte(fingerprint))
		if tok == nil {
			return vault.ErrNotFound
		}
		var err error
		rec, err = loadRecord(tokens, string(tok))
		return err
	})
	return rec, err
}

// Update implements Vault. If rec.Fingerprint is empty the stored one is
// kept; if it changed, the fingerprint index follows it.
func (b *Bolt) Update(ctx context.Context, rec vault.Record) (vault.Record, error) {
	return b.update(ctx, nil, rec)
}

func (b *Bolt) update(ctx context.Context, unit *vault.Unit, rec vault.Record) (vault.Record, error) {
	if err := ctx.Err(); err != nil {
		return vault.Record{}, err
	}
	var (
		outcome error
		next    vault.Record
	)
	held := b.pendingFor(unit)
	err := b.w.do(func(tx *bolt.Tx) error {
		outcome = nil
		tokens, fps := tenantBuckets(tx, rec.Tenant)
		old, err := loadRecord(tokens, rec.Token)
		if err != nil {
			outcome = err
			return nil
		}
		if old.Version != rec.Version {
			outcome = vault.ErrConflict
			return nil
		}
		next = rec
		if next.Fingerprint == "" {
			next.Fingerprint = old.Fingerprint
		}
		if next.Fingerprint != old.Fingerprint {
			if tok := fps.Get([]byte(next.Fingerprint)); tok != nil && string(tok) != rec.Token {
				outcome = errors.New("vault: update: the new fingerprint already belongs to another token")
				return nil
			}
			if err := fps.Delete([]byte(old.Fingerprint)); err != nil {
				return err
			}
			if err := fps.Put([]byte(next.Fingerprint), []byte(next.Token)); err != nil {
				return err
			}
		}
		next.CreatedAt = old.CreatedAt
		next.UpdatedAt = now()
		next.Version = old.Version + 1
		if err := writeHeld(tx, held); err != nil {
			return err
		}
		if err := indexNetworkToken(tx, old, next); err != nil {
			return err
		}
		return storeRecord(tokens, next)
	})
	if err != nil {
		return vault.Record{}, err
	}
	if outcome != nil {
		return vault.Record{}, outcome
	}
	unit.Taken(held) // durable now
	return next, nil
}

// Delete implements Vault. The fingerprint index entry goes too, so the same
// card can be tokenized again afterwards.
func (b *Bolt) Delete(ctx context.Context, tenant, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var outcome error
	err := b.w.do(func(tx *bolt.Tx) error {
		outcome = nil
		tokens, fps := tenantBuckets(tx, tenant)
		old, err := loadRecord(tokens, token)
		if err != nil {
			outcome = err
			return nil
		}
		if tok := fps.Get([]byte(old.Fingerprint)); tok != nil && string(tok) == token {
			if err := fps.Delete([]byte(old.Fingerprint)); err != nil {
				return err
			}
		}
		if err := indexNetworkToken(tx, old, vault.Record{}); err != nil {
			return err
		}
		return tokens.Delete([]byte(token))
	})
	if err != nil {
		return err
	}
	return outcome
}

// Close implements Vault; it closes the bbolt file and releases its lock.
func (b *Bolt) Close() error {
	b.w.shutdown()
	return b.db.Close()
}

// Interface guard.
var _ vault.Vault = (*Bolt)(nil)
