package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/stack"
)

// The app opens its storage at Start, not in Provision: `caddy validate`
// runs Provision and Validate only (caddy.Validate, caddy v2.11.9
// caddy.go), so a validate against a running gateway's config neither waits
// for the bbolt file's lock nor creates a file, a directory or a table.
//
// Start opens the vault (creating or migrating its schema), checks that the
// keyset opens its records, opens the CVV store and the network token
// services that keep state in the vault, and builds the stack. When a
// service does not answer (PostgreSQL or Redis down), Start still succeeds:
// the gateway is not ready (tokenize and detokenize answer 503 and forward
// nothing; Readiness says what is missing) and a loop retries, with capped
// exponential backoff, until everything opens; then the gateway serves,
// without a restart. What waiting cannot fix fails Start (see
// misconfigured); found by the loop, it stops the loop and leaves the
// gateway refusing ("refused").
//
// Caddy starts its apps in map order, so the HTTP servers may be listening
// before this Start has run: handlers that find no stack answer 503.

// Retry backoff: the first retry after about half a second, then doubling,
// at most 30 s apart, so a database back after an outage is noticed within
// seconds and a long outage costs one attempt every half minute.
var (
	retryInitial = 500 * time.Millisecond
	retryMax     = 30 * time.Second
)

// firstAttempt bounds Start's own attempt: Caddy's load (and the admin
// API's /load, and `caddy reload`) waits for Start, and a database host that
// drops packets would otherwise hold it for the openers' own bounds (30 s
// for PostgreSQL). The retry loop takes over from there.
var firstAttempt = 10 * time.Second

// misconfiguredError marks a failure to open that retrying cannot fix.
type misconfiguredError struct{ err error }

func (e *misconfiguredError) Error() string { return e.err.Error() }
func (e *misconfiguredError) Unwrap() error { return e.err }

// misconfigured marks err as one retrying cannot fix: a wrong password, a
// database that does not exist, a bbolt file that cannot be opened, a keyset
// that does not open the vault's records. Start fails with it; the retry
// loop stops at it.
func misconfigured(err error) error { return &misconfiguredError{err} }

func isMisconfigured(err error) bool {
	var m *misconfiguredError
	return errors.As(err, &m)
}

// Start opens the storage, or, if a service does not answer, starts the
// retry loop and returns nil.
func (a *App) Start() error {
	// The gauges read this config's vault and CVV store from now on; the
	// CVV store is counted once it is open. A refusal below puts back the
	// running config's: Caddy keeps serving it.
	prevFeed, prevHeld := watchedFeed.Load(), heldCVVs.Load()
	watchFeed(a.vault)
	heldCVVs.Store(nil)
	ctx, cancel := context.WithCancel(a.ctx)
	a.stopRetry = cancel
	defer close(a.tried)
	first, cancelFirst := context.WithTimeout(ctx, firstAttempt)
	err := a.open(first)
	cancelFirst()
	switch {
	case err == nil:
		runningApp.Store(a) // the readiness gauges' (readiness_metrics.go)
		return nil
	case isMisconfigured(err):
		cancel()
		watchedFeed.Store(prevFeed)
		heldCVVs.Store(prevHeld)
		return err // Caddy keeps the running config, and the gauges with it
	}
	a.logger.Warn("tokengate started NOT READY: a service it needs does not answer; tokenize and detokenize answer 503 and forward nothing until it does, retried in the background",
		zap.Error(err))
	a.retryDone = make(chan struct{})
	go a.retry(ctx)
	runningApp.Store(a)
	return nil
}

// retry opens what is not open yet until all is, the config stops, or an
// error retrying cannot fix.
func (a *App) retry(ctx context.Context) {
	defer close(a.retryDone)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = retryInitial, retryMax, 2, 0.2
	warned := time.Now() // Start warned
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := a.open(ctx)
		if isMisconfigured(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, next time.Duration) {
		// A warning a minute at most while it waits, the attempts between
		// at debug level: a long outage must show, not flood the log.
		level := zap.DebugLevel
		if time.Since(warned) >= time.Minute {
			level, warned = zap.WarnLevel, time.Now()
		}
		a.logger.Log(level, "tokengate still NOT READY: a service it needs does not answer; retrying", zap.Error(err), zap.Duration("next", next))
	}))
	switch {
	case err == nil:
		a.logger.Info("tokengate is ready: the services it waited for answer; tokenize and detokenize serve")
	case ctx.Err() != nil: // the config stopped
	default:
		a.logger.Error("tokengate will NOT serve: opening its storage failed in a way retrying cannot fix; tokenize and detokenize answer 503 until the config is fixed and reloaded",
			zap.Error(err))
	}
}

// Stop ends the retry loop and waits for it, so that a reload or a stop
// leaves no goroutine opening a store the guest modules' Cleanup is about
// to release (they release shared stores once the next config holds them).
func (a *App) Stop() error {
	if a.stopRetry != nil {
		a.stopRetry()
	}
	if a.retryDone != nil {
		<-a.retryDone
	}
	a.stopReseal()
	a.stopRetention()
	a.status.stopped()
	runningApp.CompareAndSwap(a, nil)
	return nil
}

// open opens, in order, what is not open yet: the development keyset (if
// it must be generated), the vault (then the keyset check), the CVV store,
// the network token services that keep state in the vault; then it builds
// the stack, which makes the gateway ready. A component that opened stays
// open across attempts.
func (a *App) open(ctx context.Context) error {
	o := &a.opened
	if a.keys == nil {
		ks, err := a.openKeys(ctx) // kek_load.go: a KMS that does not answer is retried
		if err != nil {
			return err
		}
		a.keys = ks
	}
	env := Env{Keys: a.keys, Logger: a.logger}
	// The audit sink sets a.audit, before the stack is built over it.
	if err := a.openAudit(ctx, env); err != nil {
		return err
	}
	if o.vault == nil {
		v, err := a.vault.OpenVault(ctx, env)
		if err != nil {
			a.status.failed(componentVault, err)
			return fmt.Errorf("tokengate: %w", err)
		}
		o.vault = v
	}
	if !o.keysChecked {
		// A read that fails (the database went away) is tried again; a
		// keyset that lacks a key is refused.
		if err := a.checkKeys(ctx, o.vault); err != nil {
			if isMisconfigured(err) {
				a.status.set(componentVault, StateRefused, reasonKeyset, err)
			} else {
				a.status.failed(componentVault, err)
			}
			return err
		}
		o.keysChecked = true
		a.status.set(componentVault, StateReady, "", nil)
	}
	env.Vault = a.vault
	if o.cvvs == nil {
		cvvs, err := a.cvvBackend.OpenCVVStore(ctx, env)
		if err != nil {
			a.status.failed(componentCVVs, err)
			return fmt.Errorf("tokengate: %w", err)
		}
		o.cvvs = cvvs
		watchCVVs(cvvs)
		if s, ok := a.cvvBackend.(ShortLivedStorer); ok {
			o.shortLived = s.ShortLivedStore(env)
		}
		a.status.set(componentCVVs, StateReady, "", nil)
	}
	for ; o.networks < len(a.lateNetworks); o.networks++ {
		n := a.lateNetworks[o.networks]
		svc, err := n.backend.OpenNetwork(env)
		if err != nil {
			a.status.set(networkComponent(n.name), StateRefused, reasonMisconfigured, err)
			return misconfigured(fmt.Errorf("tokengate: %w", err))
		}
		a.networks[n.name] = observe(svc)
		a.status.set(networkComponent(n.name), StateReady, "", nil)
	}
	st := stack.New(stack.Config{
		Vault: o.vault, Keys: a.keys, CVVs: o.cvvs, ShortLived: o.shortLived,
		Networks: a.networks, Provisioner: a.provisioner, ProvisionTimeout: time.Duration(a.ProvisionTimeout),
		ObserveStatus:  observeStatus,
		CVVUnavailable: a.logCVVUnavailable,
		Tampered:       a.logTampered,
		Audit:          a.recorder(),
		AuditFailed:    a.auditFailed,
		ObservePurge:   observePurge,
	})
	if feed, ok := a.vault.(ChangeFeed); ok {
		feed.WatchChanges(a.ctx, st.Cache) // ends with this config
	}
	a.recordKeys(ctx, st.Audit, a.keys)
	a.stack.Store(st)
	a.startReseal(st)
	shortLived.Store(st.Records)
	memoryWatched.Store(&memoryState{cache: st.Cache, networks: a.networks})
	a.status.ready()
	a.startRetention(st)
	return nil
}

// startWait bounds how long a request that arrives while Start's first
// attempt is still opening the storage waits for it.
var startWait = 10 * time.Second

// serving reports whether the app is ready to serve; if not, it answers r
// 503 (errNotReady) and the handler must forward nothing, and return err:
// nil, or, where the server has handle_errors routes, the error for them
// (see gatewayError.answer). A request that arrives while Start's first
// attempt runs (Caddy may start the HTTP app first) waits for it, so a
// gateway that starts with its services up never answers 503; one that
// arrives later, with a service down, is answered at once. The request is
// logged at debug level only: an outage would log every request, and the
// state's changes are logged where they happen.
func (a *App) serving(w http.ResponseWriter, r *http.Request, what string) (ok bool, err error) {
	if a.stack.Load() != nil {
		return true, nil
	}
	t := time.NewTimer(startWait)
	select {
	case <-a.tried:
	case <-r.Context().Done():
	case <-t.C:
	}
	t.Stop()
	if a.stack.Load() != nil {
		return true, nil
	}
	id := errNotReady.answer(w, r)
	a.logger.Debug(what+" refused: the gateway is not ready; nothing was forwarded", zap.String("state", string(a.Readiness().State)), requestLogID(r.Context(), id))
	err, _ = caddyhttp.GetVar(r.Context(), failureVar).(error)
	return false, err
}
