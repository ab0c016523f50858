// Package btapi serves Basis Theory's network tokens API (seed 003) from
// tokengate's vault, keys and network token services, so that a merchant
// integrated with Basis Theory can point its base URL at tokengate. It is
// plain net/http; caddymodule mounts it as the basistheory_api handler.
package btapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// Permission is a Basis Theory permission of an API key.
type Permission string

// The network token permissions.
const (
	PermCreate     Permission = "network-token:create"
	PermRead       Permission = "network-token:read"
	PermReveal     Permission = "network-token:reveal"
	PermCryptogram Permission = "network-token:cryptogram"
	PermSuspend    Permission = "network-token:suspend"
	PermResume     Permission = "network-token:resume"
	PermDelete     Permission = "network-token:delete"
)

// Permissions lists every permission, for configuration checks.
var Permissions = []Permission{PermCreate, PermRead, PermReveal, PermCryptogram, PermSuspend, PermResume, PermDelete}

// Principal is who an API key is: its tenant and what it may do.
type Principal struct {
	Tenant      string
	Permissions map[Permission]bool
	// KeyID identifies the key in the audit trail (audit.KeyID).
	KeyID string
}

// maxBody bounds a request body: a create request is a few hundred bytes.
const maxBody = 64 << 10

// Server is the API. It is safe for concurrent use.
type Server struct {
	// Tokenizer stores cards exactly as inbound tokenization does.
	Tokenizer *tokenize.Tokenizer
	// Vault holds the records (the same cache the gateway uses).
	Vault vault.Vault
	// Keys open records to show a revealed network token number.
	Keys *keys.Keys
	// Lifecycle fetches cryptograms and changes token states.
	Lifecycle *lifecycle.Manager
	// Authenticate maps a BT-API-KEY to its principal.
	Authenticate func(apiKey string) (Principal, bool)
	// Idempotency replays the first success of a BT-IDEMPOTENCY-KEY.
	Idempotency *Idempotency
	// Observe, when set, is told of every answered call: the endpoint (a
	// route pattern, never an id) and the status.
	Observe func(endpoint string, status int)
	// Notify, when set, is told of every state change of a network token,
	// with Basis Theory's event type and the object (masked): the served
	// API's webhooks.
	Notify func(tenantID, eventType string, networkToken any)
	// Failed, when set, is told the cause of every 503 (the answer tells
	// the client nothing of it), with the request's context: the host logs
	// it.
	Failed func(ctx context.Context, cause error)
	// Audit, when set, records every reveal of a network token number and
	// every cryptogram before it is answered; one it cannot record is
	// answered 503 instead (see audit.go).
	Audit audit.Recorder
	// Eraser erases a card on DELETE /network-tokens/{id}: its network
	// token deleted at its service, an audit entry, the record deleted
	// (see package purge). Nil: one over Vault, Lifecycle and Audit, with
	// no CVV store to drop a held CVV from.
	Eraser *purge.Eraser
}

// eraser is Eraser, or one over the server's own vault and services.
func (s *Server) eraser() *purge.Eraser {
	if s.Eraser != nil {
		return s.Eraser
	}
	return &purge.Eraser{Vault: s.Vault, Lifecycle: s.Lifecycle, Audit: s.Audit}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, perms []Permission, idempotent bool, h func(*http.Request, Principal) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status := s.serve(w, r, perms, idempotent, h)
			if s.Observe != nil {
				s.Observe(pattern, status)
			}
		})
	}
	route("POST /network-tokens", []Permission{PermCreate}, true, s.create)
	route("GET /network-tokens/{id}", []Permission{PermRead, PermReveal}, false, s.get)
	// A cryptogram answer is not kept for replay: it is a secret, and a
	// retry may as well get a fresh one.
	route("POST /network-tokens/{id}/cryptogram", []Permission{PermCryptogram}, false, s.cryptogram)
	route("PUT /network-tokens/{id}/suspend", []Permission{PermSuspend}, true, s.setStatus(network.StatusSuspended))
	route("PUT /network-tokens/{id}/resume", []Permission{PermResume}, true, s.setStatus(network.StatusActive))
	route("DELETE /network-tokens/{id}", []Permission{PermDelete}, false, s.delete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		newProblem(http.StatusNotFound, "Not Found", "No such endpoint.").write(w)
		if s.Observe != nil {
			s.Observe("unknown", http.StatusNotFound)
		}
	})
	return mux
}

// serve authenticates, checks one of perms, replays or records the
// idempotent answer, runs h and writes what it returns: a *problem, nil for
// 204, or a value to encode as JSON.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, perms []Permission, idempotent bool, h func(*http.Request, Principal) (int, any)) int {
	p, ok := s.Authenticate(r.Header.Get("BT-API-KEY"))
	if !ok {
		errUnauthenticated.write(w)
		return http.StatusUnauthorized
	}
	if p.KeyID != "" {
		r = r.WithContext(audit.WithAPIKey(r.Context(), p.KeyID))
	}
	allowed := false
	for _, perm := range perms {
		allowed = allowed || p.Permissions[perm]
	}
	if !allowed {
		forbidden(perms[0]).write(w)
		return http.StatusForbidden
	}
	key := r.Header.Get("BT-IDEMPOTENCY-KEY")
	if idempotent && key != "" && s.Idempotency != nil {
		// Scoped by the API key too: an answer is replayed only to the key
		// it was made for, with that key's permissions (reveal).
		caller := sha256.Sum256([]byte(r.Header.Get("BT-API-KEY")))
		scope := p.Tenant + "\x00" + hex.EncodeToString(caller[:]) + "\x00" + r.Method + " " + r.URL.Path + "\x00" + key
		done, replay, ok := s.Idempotency.Begin(scope)
		switch {
		case !ok:
			newProblem(http.StatusConflict, "Conflict", "A request with this BT-IDEMPOTENCY-KEY is in progress.").write(w)
			return http.StatusConflict
		case replay != nil:
			replay.write(w)
			return replay.status
		}
		rec := &recorder{ResponseWriter: w}
		completed := false
		defer func() {
			if !completed {
				done(nil) // a panic frees the key; nothing is kept
			}
		}()
		status := s.answer(rec, r, p, h)
		completed = true
		done(rec.saved())
		return status
	}
	return s.answer(w, r, p, h)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, p Principal, h func(*http.Request, Principal) (int, any)) int {
	status, out := h(r, p)
	switch v := out.(type) {
	case *problem:
		v.write(w)
		return v.Status
	case nil:
		w.WriteHeader(status)
		return status
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
	return status
}

// decode reads a JSON body of at most maxBody bytes into v.
func decode(r *http.Request, v any) *problem {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case err != nil:
		return invalid("body", "The request body could not be read.")
	case len(data) > maxBody:
		return newProblem(http.StatusRequestEntityTooLarge, "Payload Too Large", "The request body is larger than 64 KiB.")
	case len(strings.TrimSpace(string(data))) == 0:
		return invalid("body", "A JSON request body is required.")
	}
	// The gateway's own parser first: it refuses a member named twice, which
	// encoding/json would resolve silently to the last.
	if _, err := body.Parse(body.JSON, "application/json", data); err != nil {
		return invalid("body", "The request body is not valid JSON: "+jsonProblem(err))
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "The value has the wrong type; expected "+te.Type.String()+".")
		}
		return invalid("body", "The request body is not valid JSON.")
	}
	return nil
}

// record returns the caller's record with a network token, or a problem.
// Another tenant's id answers exactly like an unknown one.
func (s *Server) record(ctx context.Context, p Principal, id string) (vault.Record, *problem) {
	rec, err := s.Vault.Get(ctx, p.Tenant, id)
	switch {
	case errors.Is(err, vault.ErrNotFound) || err == nil && (rec.Tenant != p.Tenant || rec.Network.ID == "" || vault.IsShortLived(rec)):
		return vault.Record{}, errNotFound
	case err != nil:
		return vault.Record{}, s.unavailable(ctx, err)
	}
	return rec, nil
}

// view renders rec, opening it for the network token number.
func (s *Server) view(ctx context.Context, rec vault.Record, p Principal) (object, *problem) {
	secrets, err := s.Keys.Open(p.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		return object{}, s.unavailable(ctx, fmt.Errorf("opening the record: %w", err))
	}
	// A deleted network token's number is never revealed again: it pays
	// nothing, and after a delete nothing should hand out card data.
	reveal := p.Permissions[PermReveal] && rec.Network.Status != network.StatusDeleted
	if reveal && secrets.DPAN != "" {
		if prob := s.audit(ctx, audit.ActionReveal, rec); prob != nil {
			return object{}, prob
		}
	}
	return render(rec, secrets.DPAN, reveal), nil
}

// jsonProblem says what is wrong with a body in words that never hold what
// the caller sent.
func jsonProblem(err error) string {
	var dup *body.DuplicateKeyError
	if errors.As(err, &dup) {
		return "an object names a member twice (at " + strconv.Quote(body.SafePath(dup.Path)) + ")."
	}
	return "it does not parse."
}
