package caddymodule

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/vault/migrate"
)

func init() {
	caddy.RegisterModule(AdminPurge{})
}

// purgePath is the purge endpoint on Caddy's admin endpoint.
const purgePath = "/tokengate/purge"

// AdminPurge serves POST /tokengate/purge on Caddy's admin endpoint: it
// erases the cards a purge.Target names (a tenant's, a Juspay customer's, a
// token list) through the running gateway, which holds the network token
// services (deleted there first), the read cache, the short-lived cards and
// the CVV store. `caddy tokengate purge` calls it. The answer is a stream of
// JSON lines: {"total":N}, then {"done":n} as it goes, then {"report":…} or
// {"error":"…"}; never card data.
type AdminPurge struct{}

// CaddyModule returns the Caddy module information.
func (AdminPurge) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.tokengate_purge", New: func() caddy.Module { return new(AdminPurge) }}
}

// Routes implements caddy.AdminRouter.
func (AdminPurge) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: purgePath, Handler: caddy.AdminHandlerFunc(servePurge)}}
}

// purgeLine is one line of the answer.
type purgeLine struct {
	Total  *int          `json:"total,omitempty"`
	Done   int           `json:"done,omitempty"`
	Report *purge.Report `json:"report,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// maxPurgeBody bounds the request (a token list).
const maxPurgeBody = 32 << 20

func servePurge(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("method not allowed: POST " + purgePath)}
	}
	var t purge.Target
	dec := json.NewDecoder(io.LimitReader(r.Body, maxPurgeBody))
	dec.DisallowUnknownFields() // a misspelt field must not leave a wider purge
	if err := dec.Decode(&t); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("the body is not a purge request (JSON with tenant, and all, customer or tokens)")}
	}
	if err := t.Check(); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	app, err := activeApp()
	if err != nil {
		return err
	}
	st := app.stack.Load()
	if st == nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the gateway is not ready (its storage is not open)")}
	}
	tokens, err := purge.Select(r.Context(), st.Records, t)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	n := len(tokens)
	_ = enc.Encode(purgeLine{Total: &n})
	_ = rc.Flush()
	step := max(1, n/100)
	rep, err := st.Eraser.Run(r.Context(), t, tokens, func(done int, _ purge.Report) {
		if done%step == 0 || done == n {
			_ = enc.Encode(purgeLine{Done: done})
			_ = rc.Flush()
		}
	})
	kind := "customer"
	switch {
	case t.Customer == "" && len(t.Tokens) > 0:
		kind = "tokens"
	case t.Customer == "":
		kind = "tenant"
	}
	app.logger.Info("purge through the admin endpoint", zap.String("tenant", t.Tenant), zap.String("by", kind), zap.Bool("dry_run", t.DryRun),
		zap.Int64("selected", rep.Walked), zap.Int64("erased", rep.Erased), zap.Int64("kept", rep.Kept), zap.Error(err))
	if err != nil {
		_ = enc.Encode(purgeLine{Error: err.Error(), Report: &rep})
		return nil
	}
	_ = enc.Encode(purgeLine{Report: &rep})
	return nil
}

// purgeArgs are the flags of caddy tokengate purge.
type purgeArgs struct {
	address, tenant, customer, tokens string
	vault                             string // offline: the vault, bolt:<path> or postgres:<dsn>
	dryRun                            bool
	rate                              int
	// offline: the command-line audit trail, and the keyset that keys it
	// (command_cliaudit.go)
	audit  cliAuditArgs
	keyset keys.Options
}

// cmdPurge is caddy tokengate purge: it asks the running gateway to erase
// the cards named, and draws a progress bar on progress.
func cmdPurge(ctx context.Context, args purgeArgs, out, progress io.Writer) (int, error) {
	const usage = "usage: caddy tokengate purge --tenant <tenant> [--customer <juspay customer id> | --tokens <file or comma list>] [--dry-run] [--rate <n>] [--address <admin address> | --vault bolt:<path>|postgres:<dsn>]"
	if args.tenant == "" {
		return exitFailure, errors.New("--tenant is required; " + usage)
	}
	t := purge.Target{Tenant: args.tenant, Customer: args.customer, DryRun: args.dryRun, Rate: args.rate,
		All: args.customer == "" && args.tokens == ""}
	if args.tokens != "" {
		list, err := tokenList(args.tokens)
		if err != nil {
			return exitFailure, err
		}
		if len(list) == 0 {
			return exitFailure, errors.New("--tokens: no token given")
		}
		t.Tokens = list
	}
	if err := t.Check(); err != nil {
		return exitFailure, fmt.Errorf("%w; %s", err, usage)
	}
	if args.vault != "" {
		return purgeOffline(ctx, args, t, out, progress)
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(args.address, nil, "", "")
	if err != nil {
		return exitFailure, err
	}
	body, _ := json.Marshal(t)
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodPost, purgePath, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(string(body)))
	if err != nil {
		return exitFailure, fmt.Errorf("asking the gateway at %s to purge: %w", addr, err)
	}
	defer resp.Body.Close()
	var bar *progressbar.ProgressBar
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l purgeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return exitFailure, fmt.Errorf("the answer from %s is not a tokengate purge", addr)
		}
		switch {
		case l.Total != nil:
			if *l.Total > 0 {
				bar = migrate.RecordsBar(progress, int64(*l.Total))
			}
		case l.Report != nil || l.Error != "":
			if bar != nil {
				_ = bar.Exit()
				fmt.Fprintln(progress)
			}
			return purgeSummary(out, t, l.Report, l.Error)
		default:
			if bar != nil {
				_ = bar.Set(l.Done)
			}
		}
	}
	return exitFailure, fmt.Errorf("the answer from %s ended before the purge's report: it may have been interrupted; run it again", addr)
}

// purgeSummary prints a purge's counts and gives the exit status.
func purgeSummary(out io.Writer, t purge.Target, rep *purge.Report, failure string) (int, error) {
	if rep == nil {
		rep = &purge.Report{}
	}
	verb := "erased"
	if t.DryRun {
		verb = "would be erased (dry run: nothing was)"
	}
	fmt.Fprintf(out, "tenant %s: %d selected, %d %s", t.Tenant, rep.Walked, rep.Erased, verb)
	if rep.Forgotten > 0 {
		fmt.Fprintf(out, ", %d kept for another customer (this customer's mark removed)", rep.Forgotten)
	}
	fmt.Fprintln(out)
	if rep.Kept > 0 {
		fmt.Fprintf(out, "%d kept: their network token could not be deleted at its service; run the purge again (through the gateway, without --vault)\n", rep.Kept)
	}
	if failure != "" {
		return exitFailure, fmt.Errorf("the purge stopped: %s; what was erased stays erased, and running it again finishes the job", failure)
	}
	if rep.Kept > 0 {
		return exitFailure, errors.New("some cards were kept")
	}
	return 0, nil
}

// purgeOffline erases from the vault at where (bolt:<path>, postgres:<dsn>)
// without a gateway: there is no network token service here, so a card
// whose network token is live is kept (counted; purge it through the
// gateway), and no gateway's audit sink: with --audit-file (or
// --audit-dsn) it records in the command-line audit trail (one entry per
// card erased, written before it is). Meant for a
// stopped gateway's bbolt file (a running one holds its lock) or a
// PostgreSQL vault whose gateways' caches the change feed invalidates.
func purgeOffline(ctx context.Context, args purgeArgs, t purge.Target, out, progress io.Writer) (int, error) {
	var ks *keys.Keys
	if args.audit.on() {
		if args.keyset.File == "" && args.keyset.Env == "" {
			return exitFailure, errAuditNeedsKeyset
		}
		var err error
		if ks, _, err = keys.LoadContext(ctx, args.keyset); err != nil {
			return exitFailure, err
		}
	}
	// Recorded as the gateway's purge is: a start and an end entry here,
	// and one entry per card erased, written before it is.
	return auditedRun(ctx, args.audit, "purge", ks, purgeStartEntry(args.vault, t), func(a *cliAudit) (map[string]string, error) {
		return purgeVault(ctx, args.vault, t, a.recorder(), out, progress)
	})
}

// purgeVault is the offline purge of the vault where; each erasure is
// recorded by rec.
func purgeVault(ctx context.Context, where string, t purge.Target, rec audit.Recorder, out, progress io.Writer) (map[string]string, error) {
	ep, err := migrate.Open(ctx, where, true)
	if err != nil {
		return nil, fmt.Errorf("--vault: %w", err)
	}
	defer ep.Close()
	e := &purge.Eraser{Vault: ep.Backend, Lifecycle: &lifecycle.Manager{Vault: ep.Backend, Networks: network.Registry{}}, Audit: rec}
	tokens, err := purge.Select(ctx, ep.Backend, t)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "purging %s (offline: cards with a live network token are kept)\n", ep.Name)
	var bar *progressbar.ProgressBar
	if len(tokens) > 0 {
		bar = migrate.RecordsBar(progress, int64(len(tokens)))
	}
	rep, err := e.Run(ctx, t, tokens, func(done int, _ purge.Report) {
		if bar != nil {
			_ = bar.Set(done)
		}
	})
	if bar != nil {
		_ = bar.Exit()
		fmt.Fprintln(progress)
	}
	failure := ""
	if err != nil {
		failure = err.Error()
	}
	_, err = purgeSummary(out, t, &rep, failure)
	return purgeCounts(rep), err
}

// tokenList reads --tokens: a file with one token a line, or a comma list.
func tokenList(s string) ([]string, error) {
	raw := s
	if data, err := os.ReadFile(s); err == nil {
		raw = strings.ReplaceAll(string(data), "\n", ",")
	} else if !strings.Contains(s, ",") && strings.ContainsAny(s, "/\\") {
		return nil, fmt.Errorf("--tokens: %w", err)
	}
	var out []string
	for _, t := range strings.Split(raw, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// Interface guard.
var _ caddy.AdminRouter = AdminPurge{}
