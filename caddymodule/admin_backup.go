package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/vault/boltvault"
)

func init() {
	caddy.RegisterModule(AdminBackup{})
}

// The backup endpoint's path on Caddy's admin endpoint, and the headers
// that describe the copy it streams. The SHA-256 can only be known once
// the body is written, so it is a trailer (RFC 9110 section 6.5): an HTTP/1.1
// answer is then chunked, and a copy that ends early lacks it.
const (
	backupPath          = "/tokengate/backup"
	headerBackupSize    = "Tokengate-Backup-Size"
	headerBackupRecords = "Tokengate-Backup-Records"
	headerBackupState   = "Tokengate-Backup-State-Entries"
	trailerBackupSHA256 = "Tokengate-Backup-Sha256"
)

// AdminBackup serves GET /tokengate/backup on Caddy's admin endpoint (an
// admin.api module, as reverse_proxy's /reverse_proxy/upstreams is): a
// consistent copy of the running gateway's bbolt vault file, streamed from
// one read transaction while the gateway goes on tokenizing. It is on the
// admin endpoint only (never a site), behind the admin endpoint's own
// host and origin checks, and what it streams is the vault file: sealed
// records and keyed fingerprints, never a key and never a card in clear.
// `caddy tokengate backup` calls it.
type AdminBackup struct{}

// CaddyModule returns the Caddy module information.
func (AdminBackup) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.tokengate", New: func() caddy.Module { return new(AdminBackup) }}
}

// Routes implements caddy.AdminRouter.
func (AdminBackup) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: backupPath, Handler: caddy.AdminHandlerFunc(serveBackup)}}
}

// serveBackup streams the copy. The app is looked up per request in the
// running config (caddy.ActiveContext): Caddy provisions admin routers
// before the config's apps, and keeps the admin endpoint across reloads
// that do not change it, so a router holding an app would hold a stale one.
func serveBackup(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("method not allowed: GET " + backupPath)}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	bv, ok := app.vault.(*BoltVault)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotImplemented,
			Err: fmt.Errorf("the %s is not a bbolt file: back up a PostgreSQL vault with pg_dump (see the README, Backup and restore)", app.vault.Describe())}
	}
	// The stack is set (atomically) once the vault is open; only then is
	// the module's file handle there to read.
	if app.stack.Load() == nil || bv.bolt == nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("the %s is not open yet (the gateway is not ready)", bv.Describe())}
	}
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{}) //nolint:errcheck // cleared for the trailer and a kept-alive connection's next request
	started := false
	snap, err := bv.bolt.Backup(stallLimited{w, rc}, func(s boltvault.Snapshot) error {
		if err := app.recordBackup(r.Context(), s); err != nil {
			return err // nothing streamed: the audit trail could not record it
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="vault.db"`)
		h.Set("Cache-Control", "no-store")
		h.Set(headerBackupSize, strconv.FormatInt(s.Size, 10))
		h.Set(headerBackupRecords, strconv.FormatInt(s.Records, 10))
		h.Set(headerBackupState, strconv.FormatInt(s.StateEntries, 10))
		h.Set("Trailer", trailerBackupSHA256)
		w.WriteHeader(http.StatusOK)
		started = true
		return nil
	})
	if err != nil {
		if started {
			// The status is sent: the missing trailer tells the client.
			app.logger.Error("backup of the vault ended early; the copy lacks its SHA-256 trailer", zap.String("vault", bv.Describe()), zap.Error(err))
			return nil
		}
		return err
	}
	w.Header().Set(trailerBackupSHA256, snap.SHA256)
	app.logger.Info("vault backed up through the admin endpoint", zap.String("vault", bv.Describe()),
		zap.Int64("records", snap.Records), zap.Int64("bytes", snap.Size), zap.String("sha256", snap.SHA256))
	return nil
}

// backupWriteStall is how long one write of the copy (32 KiB, io.Copy's
// buffer) may wait for the client. Caddy's admin server sets no write
// timeout, and the copy holds a bbolt read transaction: a client that stops
// reading (a pipe into a pager left open, a hung script) would hold it for
// as long as it keeps the connection, and the first commit that must grow
// bbolt's memory map waits for every read transaction to end (bbolt v1.5.0
// db.go, mmap takes mmaplock), so tokenize would stall for everyone.
var backupWriteStall = 30 * time.Second

// stallLimited sets a write deadline before each write, so a stalled
// client fails the copy (and ends its transaction) after backupWriteStall
// without data going out, however long the whole copy takes.
type stallLimited struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s stallLimited) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(backupWriteStall)) // a writer without deadlines: as before
	return s.w.Write(p)
}

// activeApp returns the running config's tokengate app, looked up per
// request: the admin server outlives configs.
func activeApp() (*App, error) {
	ctx := caddy.ActiveContext()
	a, err := ctx.AppIfConfigured("tokengate")
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the running config has no tokengate app")}
	}
	return a.(*App), nil
}

// Interface guard.
var _ caddy.AdminRouter = AdminBackup{}
