// Package pgvault is the PostgreSQL vault backend, for several gateways
// sharing one vault: rows hold only sealed card data and keyed fingerprints;
// uniqueness per tenant on token and fingerprint makes the same new card
// sent to two gateways at once one record; updates are compare-and-set on a
// version. The schema is created and migrated at open, under an advisory
// lock, from migrations embedded in the binary.
package pgvault

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/tokengate/tokengate/vault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// statementTimeout bounds every query: a database that stops answering must
// cost a request a bounded wait, then a 503.
const statementTimeout = 5 * time.Second

// Vault is safe for concurrent use.
type Vault struct {
	pool   *pgxpool.Pool
	writes *vault.GroupCommit[*op] // new cards' writes, group-committed
	fast   *vault.GroupCommit[*op] // fingerprint lookups and held creates: no flush waited for
}

// Open connects with dsn (a pgx connection string; pool settings in it) and
// migrates the schema.
func Open(ctx context.Context, dsn string) (*Vault, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgvault: dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgvault: %w", err)
	}
	if err := migrateSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Vault{pool: pool, writes: newGroups(pool, groupWorkers, false), fast: newGroups(pool, 1, true)}, nil
}

func migrateSchema(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgvault: connecting: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "tokengate_schema_version")
	if err != nil {
		return fmt.Errorf("pgvault: migrations: %w", err)
	}
	dir, _ := fs.Sub(migrations, "migrations")
	if err := m.LoadMigrations(dir); err != nil {
		return fmt.Errorf("pgvault: migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("pgvault: migrating the schema: %w", err)
	}
	return nil
}

// Ping checks that the database answers, on a connection of the pool. After
// an outage the pool may still hold idle connections the server (or a
// proxy) closed meanwhile: a ping on one fails once, and the pool drops
// it. So a failed ping is tried again on another connection, a few times,
// before the database is said not to answer; an outage fails every try.
func (v *Vault) Ping(ctx context.Context) error {
	var err error
	for range 3 {
		if err = v.pool.Ping(ctx); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Close implements vault.Vault.
func (v *Vault) Close() error {
	v.writes.Close()
	v.fast.Close()
	v.pool.Close()
	return nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, statementTimeout)
}

const columns = "tenant, token, data, version, created_at, updated_at"

// scanned is a row of columns as Scan fills it: one value, so that the
// pointers Scan takes cost one allocation, not one per column (a new
// card's lookup scans a row that is not there).
type scanned struct {
	tenant   string
	token    string
	data     []byte
	version  int64
	cre, upd time.Time
	dest     [6]any
}

// scan reads a row of columns into a record.
func scan(row pgx.Row) (vault.Record, error) {
	r := new(scanned)
	r.dest = [6]any{&r.tenant, &r.token, &r.data, &r.version, &r.cre, &r.upd}
	if err := row.Scan(r.dest[:]...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.Record{}, vault.ErrNotFound
		}
		return vault.Record{}, fmt.Errorf("pgvault: %w", err)
	}
	var rec vault.Record
	if err := json.Unmarshal(r.data, &rec); err != nil {
		return vault.Record{}, &decodeError{err}
	}
	// Tenant and token are the row's key columns, not what data says: the
	// sealed data is bound to both, and data moved to another row must be
	// opened as that row's to be refused.
	rec.Tenant, rec.Token = r.tenant, r.token
	rec.Version, rec.CreatedAt, rec.UpdatedAt = r.version, r.cre.UTC(), r.upd.UTC()
	return rec, nil
}

// decodeError is a row whose data does not decode: that row's failure,
// not the connection's.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "pgvault: decode record: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

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

// Put implements vault.Vault: the row is committed when Put returns.
func (v *Vault) Put(ctx context.Context, rec vault.Record) (vault.Record, bool, error) {
	return v.put(ctx, rec, nil)
}

// insertRecord is a new card's INSERT; a row not inserted clashed on the
// token or the fingerprint.
const insertRecord = `INSERT INTO tokengate_records (tenant, token, fingerprint, network_provider, network_id, data, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) ON CONFLICT DO NOTHING`

// insertRecordCreating is insertRecord that also creates key-value
// entries (a KV's name, ids, data in $8, $9, $10) when, and only when, it
// inserts the record: one statement, so one round trip and all or
// nothing. An entry that exists fails the whole statement
// (unique_violation on tokengate_kv), the record too. It affects as many
// rows as it creates entries: none when the record was not inserted.
const insertRecordCreating = `WITH rec AS (` + insertRecord + ` RETURNING 1)
	INSERT INTO tokengate_kv (name, id, data) SELECT $8, * FROM unnest($9::text[], $10::bytea[]) WHERE EXISTS (SELECT 1 FROM rec)`

// put is Put that also creates the entries of create (held to be created,
// vault.Unit.HoldNew, all of one KV) with the record, in its statement.
func (v *Vault) put(ctx context.Context, rec vault.Record, create []*vault.Held) (vault.Record, bool, error) {
	if err := validate(rec); err != nil {
		return vault.Record{}, false, err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	rec.CreatedAt = now()
	rec.UpdatedAt, rec.Version = rec.CreatedAt, 1
	data, err := json.Marshal(rec)
	if err != nil {
		return vault.Record{}, false, err
	}
	// Group-committed with other new cards' writes. The fingerprint's
	// uniqueness is checked by the INSERT itself: a row not inserted
	// clashed on the token or the fingerprint, and the lookup below says
	// which.
	args := append(make([]any, 0, 10), rec.Tenant, rec.Token, rec.Fingerprint, rec.Network.Provider, rec.Network.ID, data, rec.CreatedAt)
	sql := insertRecord
	if len(create) > 0 {
		sql = insertRecordCreating
		args = append(args, kvColumns(kvOf(create[0].Store).name, create)...)
	}
	rows, err := v.exec(ctx, v.writes, sql, args...)
	switch {
	case len(create) > 0 && isUniqueViolationOn(err, "tokengate_kv"):
		return vault.Record{}, false, fmt.Errorf("pgvault: put: %w", vault.ErrStateTaken)
	case err != nil:
		return vault.Record{}, false, fmt.Errorf("pgvault: put: %w", err)
	case rows > 0:
		return rec, true, nil
	}
	existing, err := v.GetByFingerprint(ctx, rec.Tenant, rec.Fingerprint)
	if errors.Is(err, vault.ErrNotFound) && len(create) > 0 {
		// The record clashed on its token, so the statement never tried
		// the entries. A token that is the held DPAN (the network_token
		// format) clashes there when the DPAN is taken: that is the
		// entries' clash, and the card is to be provisioned again, not
		// refused for a token it cannot change.
		taken, err := v.anyExists(ctx, create)
		if err != nil {
			return vault.Record{}, false, fmt.Errorf("pgvault: put: %w", err)
		}
		if taken {
			return vault.Record{}, false, fmt.Errorf("pgvault: put: %w", vault.ErrStateTaken)
		}
	}
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Record{}, false, vault.ErrTokenTaken
	}
	return existing, false, err
}

// anyExists reports whether any entry of held (all of one KV) exists.
func (v *Vault) anyExists(ctx context.Context, held []*vault.Held) (bool, error) {
	cols := kvColumns(kvOf(held[0].Store).name, held)
	ctx, cancel := bounded(ctx)
	defer cancel()
	var taken bool
	err := v.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokengate_kv WHERE name = $1 AND id = ANY($2::text[]))`, cols[0], cols[1]).Scan(&taken)
	return taken, err
}

// Get implements vault.Vault.
func (v *Vault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return scan(v.pool.QueryRow(ctx, `SELECT `+columns+` FROM tokengate_records WHERE tenant = $1 AND token = $2`, tenant, token))
}

// GetByFingerprint implements vault.Vault. Concurrent lookups (each new
// card starts with one, which misses) share a round trip.
func (v *Vault) GetByFingerprint(ctx context.Context, tenant, fingerprint string) (vault.Record, error) {
	return v.queryRecord(ctx, `SELECT `+columns+` FROM tokengate_records WHERE tenant = $1 AND fingerprint = $2`, tenant, fingerprint)
}

// GetByNetworkToken implements vault.Vault.
func (v *Vault) GetByNetworkToken(ctx context.Context, provider, id string) (vault.Record, error) {
	if provider == "" || id == "" {
		return vault.Record{}, vault.ErrNotFound
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	return scan(v.pool.QueryRow(ctx, `SELECT `+columns+` FROM tokengate_records WHERE network_provider = $1 AND network_id = $2 LIMIT 1`, provider, id))
}

// Update implements vault.Vault: compare-and-set on the version.
func (v *Vault) Update(ctx context.Context, rec vault.Record) (vault.Record, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	old, err := v.Get(ctx, rec.Tenant, rec.Token)
	if err != nil {
		return vault.Record{}, err
	}
	if old.Version != rec.Version {
		return vault.Record{}, vault.ErrConflict
	}
	next := rec
	if next.Fingerprint == "" {
		next.Fingerprint = old.Fingerprint
	}
	next.CreatedAt, next.UpdatedAt, next.Version = old.CreatedAt, now(), old.Version+1
	data, err := json.Marshal(next)
	if err != nil {
		return vault.Record{}, err
	}
	tag, err := v.pool.Exec(ctx, `UPDATE tokengate_records SET fingerprint = $3, network_provider = $4, network_id = $5, data = $6, version = $7, updated_at = $8
		WHERE tenant = $1 AND token = $2 AND version = $9`,
		rec.Tenant, rec.Token, next.Fingerprint, next.Network.Provider, next.Network.ID, data, next.Version, next.UpdatedAt, rec.Version)
	switch {
	case isUniqueViolation(err):
		return vault.Record{}, errors.New("vault: update: the new fingerprint already belongs to another token")
	case err != nil:
		return vault.Record{}, fmt.Errorf("pgvault: update: %w", err)
	case tag.RowsAffected() == 0:
		return vault.Record{}, vault.ErrConflict // changed between the read and the write
	}
	return next, nil
}

// Delete implements vault.Vault.
func (v *Vault) Delete(ctx context.Context, tenant, token string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	tag, err := v.pool.Exec(ctx, `DELETE FROM tokengate_records WHERE tenant = $1 AND token = $2`, tenant, token)
	if err != nil {
		return fmt.Errorf("pgvault: delete: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return vault.ErrNotFound
	}
	return nil
}

// List implements vault.Vault.
func (v *Vault) List(ctx context.Context, tenant string, opts vault.ListOptions) (vault.Page, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	limit := opts.PageLimit()
	rows, err := v.pool.Query(ctx, `SELECT `+columns+` FROM tokengate_records WHERE tenant = $1 AND token COLLATE "C" > $2 ORDER BY token COLLATE "C" LIMIT $3`,
		tenant, opts.After, limit+1)
	if err != nil {
		return vault.Page{}, fmt.Errorf("pgvault: list: %w", err)
	}
	defer rows.Close()
	var page vault.Page
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return vault.Page{}, err
		}
		page.Records = append(page.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return vault.Page{}, fmt.Errorf("pgvault: list: %w", err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		page.Next = page.Records[limit-1].Token
	}
	return page, nil
}

// Interface guard.
var _ vault.Vault = (*Vault)(nil)

// KV is a named key-value table of the database, for other components'
// state (the builtin network token service's), so several gateways running
// it agree. It implements network.StateStore.
type KV struct {
	pool *pgxpool.Pool
	v    *Vault
	name string
}

// KV returns the key-value space called name.
func (v *Vault) KV(name string) *KV { return &KV{pool: v.pool, v: v, name: name} }

// Load returns the value under id, or nil when there is none.
func (kv *KV) Load(ctx context.Context, id string) ([]byte, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var data []byte
	err := kv.pool.QueryRow(ctx, `SELECT data FROM tokengate_kv WHERE name = $1 AND id = $2`, kv.name, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgvault: kv %s: load: %w", kv.name, err)
	}
	return data, nil
}

// Save stores data under id.
func (kv *KV) Save(ctx context.Context, id string, data []byte) error {
	return kv.SaveAll(ctx, map[string][]byte{id: data})
}

// Create implements network.Creator in one statement: a row that exists
// already fails the whole INSERT, which writes nothing. It is
// group-committed with other new cards' writes (a failing one fails its
// group, whose writes are then retried each alone: a clash is rare).
func (kv *KV) Create(ctx context.Context, entries map[string][]byte) (bool, error) {
	return kv.create(ctx, kv.v.writes, entries)
}

// CreateHeld implements network.HeldCreator: Create, committed without
// waiting for the flush to disk. The entries are held in a unit of work,
// whose record write (PutInUnit, UpdateInUnit) is a durable commit later
// in the write-ahead log, which PostgreSQL flushes in order: once the
// record is durable, so are they. A unit that commits with no record write
// saves them again, durably (SaveAll). Until then they are visible, and
// refuse a clash, like any committed row; a crash of the server before the
// flush loses them together with everything after them, the record too.
func (kv *KV) CreateHeld(ctx context.Context, entries map[string][]byte) (bool, error) {
	return kv.create(ctx, kv.v.fast, entries)
}

func (kv *KV) create(ctx context.Context, g *vault.GroupCommit[*op], entries map[string][]byte) (bool, error) {
	ids := make([]string, 0, len(entries))
	data := make([][]byte, 0, len(entries))
	for id, d := range entries {
		ids, data = append(ids, id), append(data, d)
	}
	_, err := kv.v.exec(ctx, g, `INSERT INTO tokengate_kv (name, id, data) SELECT $1, * FROM unnest($2::text[], $3::bytea[])`, kv.name, ids, data)
	switch {
	case isUniqueViolation(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("pgvault: kv %s: create: %w", kv.name, err)
	}
	return true, nil
}

// SaveAll stores every entry in one transaction.
func (kv *KV) SaveAll(ctx context.Context, entries map[string][]byte) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, kv.pool, func(tx pgx.Tx) error {
		for id, data := range entries {
			if _, err := tx.Exec(ctx, `INSERT INTO tokengate_kv (name, id, data) VALUES ($1, $2, $3)
				ON CONFLICT (name, id) DO UPDATE SET data = EXCLUDED.data`, kv.name, id, data); err != nil {
				return fmt.Errorf("pgvault: kv %s: save: %w", kv.name, err)
			}
		}
		return nil
	})
}

// Export implements vault.Exporter, in the order of the primary key (tenant,
// then token, in the database's collation), which the key's index serves.
func (v *Vault) Export(ctx context.Context, after vault.RecordKey, limit int) ([]vault.Record, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	limit = vault.ListOptions{Limit: limit}.PageLimit()
	rows, err := v.pool.Query(ctx, `SELECT `+columns+` FROM tokengate_records WHERE (tenant, token) > ($1, $2) ORDER BY tenant, token LIMIT $3`,
		after.Tenant, after.Token, limit)
	if err != nil {
		return nil, fmt.Errorf("pgvault: export: %w", err)
	}
	defer rows.Close()
	var out []vault.Record
	for rows.Next() {
		rec, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgvault: export: %w", err)
	}
	return out, nil
}

// CountRecords implements vault.Exporter.
func (v *Vault) CountRecords(ctx context.Context) (int64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var n int64
	if err := v.pool.QueryRow(ctx, `SELECT count(*) FROM tokengate_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgvault: count: %w", err)
	}
	return n, nil
}

// Import implements vault.Importer: one transaction per batch, each row
// inserted as it is unless its token or fingerprint is taken in its tenant.
func (v *Vault) Import(ctx context.Context, recs []vault.Record) ([]vault.ImportOutcome, error) {
	for _, rec := range recs {
		if err := validate(rec); err != nil {
			return nil, err
		}
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	out := make([]vault.ImportOutcome, len(recs))
	err := pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, rec := range recs {
			data, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			batch.Queue(`INSERT INTO tokengate_records (tenant, token, fingerprint, network_provider, network_id, data, version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
				rec.Tenant, rec.Token, rec.Fingerprint, rec.Network.Provider, rec.Network.ID, data, rec.Version, rec.CreatedAt, rec.UpdatedAt)
		}
		res := tx.SendBatch(ctx, batch)
		var missed []int
		for i := range recs {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				missed = append(missed, i)
			}
		}
		if err := res.Close(); err != nil {
			return err
		}
		if len(missed) == 0 {
			return nil
		}
		// Not inserted: the same record already there, or a conflict. One
		// query reads what the target holds under those tokens.
		tenants, tokens := make([]string, len(missed)), make([]string, len(missed))
		for j, i := range missed {
			tenants[j], tokens[j] = recs[i].Tenant, recs[i].Token
		}
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM tokengate_records WHERE (tenant, token) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, tenants, tokens)
		if err != nil {
			return err
		}
		defer rows.Close()
		held := make(map[vault.RecordKey]vault.Record, len(missed))
		for rows.Next() {
			rec, err := scan(rows)
			if err != nil {
				return err
			}
			held[vault.RecordKey{Tenant: rec.Tenant, Token: rec.Token}] = rec
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, i := range missed {
			existing, ok := held[vault.RecordKey{Tenant: recs[i].Tenant, Token: recs[i].Token}]
			if ok && vault.SameRecord(existing, recs[i]) {
				out[i] = vault.AlreadyPresent
			} else {
				out[i] = vault.ImportConflict
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgvault: import: %w", err)
	}
	return out, nil
}

// ExportState implements vault.StateExporter over tokengate_kv, by name,
// then id.
func (v *Vault) ExportState(ctx context.Context, after vault.StateKey, limit int) ([]vault.StateEntry, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	limit = vault.ListOptions{Limit: limit}.PageLimit()
	rows, err := v.pool.Query(ctx, `SELECT name, id, data FROM tokengate_kv WHERE (name, id) > ($1, $2) ORDER BY name, id LIMIT $3`,
		after.Space, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("pgvault: export state: %w", err)
	}
	defer rows.Close()
	var out []vault.StateEntry
	for rows.Next() {
		var e vault.StateEntry
		if err := rows.Scan(&e.Space, &e.ID, &e.Data); err != nil {
			return nil, fmt.Errorf("pgvault: export state: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgvault: export state: %w", err)
	}
	return out, nil
}

// ImportState implements vault.StateImporter: one transaction per batch;
// an id already holding other bytes is left alone.
func (v *Vault) ImportState(ctx context.Context, entries []vault.StateEntry) ([]vault.ImportOutcome, error) {
	for _, e := range entries {
		if e.Space == "" || e.ID == "" {
			return nil, errors.New("pgvault: import state: an entry has no space or no id")
		}
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	out := make([]vault.ImportOutcome, len(entries))
	err := pgx.BeginFunc(ctx, v.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, e := range entries {
			// The row is returned whether inserted or not; inserted tells which.
			batch.Queue(`WITH ins AS (INSERT INTO tokengate_kv (name, id, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING data)
				SELECT true, data FROM ins UNION ALL SELECT false, data FROM tokengate_kv WHERE name = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
				e.Space, e.ID, e.Data)
		}
		res := tx.SendBatch(ctx, batch)
		defer res.Close()
		for i, e := range entries {
			var (
				inserted bool
				data     []byte
			)
			if err := res.QueryRow().Scan(&inserted, &data); err != nil {
				return err
			}
			switch {
			case inserted:
				out[i] = vault.Imported
			case bytes.Equal(data, e.Data):
				out[i] = vault.AlreadyPresent
			default:
				out[i] = vault.ImportConflict
			}
		}
		return res.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("pgvault: import state: %w", err)
	}
	return out, nil
}

// Interface guards.
var (
	_ vault.Exporter      = (*Vault)(nil)
	_ vault.Importer      = (*Vault)(nil)
	_ vault.StateExporter = (*Vault)(nil)
	_ vault.StateImporter = (*Vault)(nil)
)
