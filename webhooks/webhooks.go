// Package webhooks receives network token providers' lifecycle events and
// brings the vault in line, so the next detokenize follows a suspension, a
// deletion or a new expiry the network decided: Juspay's token webhook
// (a shared secret in Authorization) and Basis Theory's network-token
// events (BT-SIGNATURE, RSA-PSS SHA-256 over the stably stringified body).
// Duplicated and out-of-order deliveries are harmless: a state is applied
// only if it is news, a deleted token stays deleted, and an event older
// than the last one applied to the token (vault.NetworkToken.EventAt, the
// provider's clock, never the record's local write time) is ignored.
// Juspay's events carry no time: an expiry earlier than the one recorded is
// taken as a late delivery and ignored, as expiries only move forward. A bad
// signature gets 401 and changes nothing.
package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/vault"
)

// maxBody bounds an event.
const maxBody = 64 << 10

// Receiver is safe for concurrent use.
type Receiver struct {
	// Vault holds the records; Lifecycle records state changes in it.
	Vault     vault.Vault
	Lifecycle *lifecycle.Manager
	// JuspaySecret is the Authorization value Juspay sends (compared in
	// constant time).
	JuspaySecret string
	// BasisTheoryKey verifies BT-SIGNATURE.
	BasisTheoryKey *rsa.PublicKey
	// Observe, when set, is told of every event: provider and outcome.
	Observe func(provider, outcome string)
	// Failed, when set, is told the cause of every 503 (the answer tells
	// the provider only to send the event again), with the request's
	// context: the host logs it.
	Failed func(ctx context.Context, cause error)
	// Audit, when set, records every token state change an event makes,
	// once it is applied (the network's state is the truth): an entry it
	// cannot write is reported to Failed and answered 503, so that the
	// provider sends the event again.
	Audit audit.Recorder
}

func (r *Receiver) observe(provider, outcome string) {
	if r.Observe != nil {
		r.Observe(provider, outcome)
	}
}

func read(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		http.Error(w, "the event could not be read", http.StatusBadRequest)
		return nil, false
	}
	return data, true
}

// Juspay handles Juspay's token webhook: {"token":{card_reference,
// customer_id, expiry_month, expiry_year}} (a network token's new expiry)
// or {"card":{...}} (the card's).
func (r *Receiver) Juspay(w http.ResponseWriter, req *http.Request) {
	if r.JuspaySecret == "" || subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), []byte(r.JuspaySecret)) != 1 {
		r.observe("juspay", "unauthorized")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	data, ok := read(w, req)
	if !ok {
		return
	}
	type meta struct {
		CardReference string `json:"card_reference"`
		CustomerID    string `json:"customer_id"`
		ExpiryMonth   string `json:"expiry_month"`
		ExpiryYear    string `json:"expiry_year"`
	}
	var ev struct {
		Token *meta `json:"token"`
		Card  *meta `json:"card"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Token == nil && ev.Card == nil {
		r.observe("juspay", "malformed")
		http.Error(w, "not a token or card event", http.StatusBadRequest)
		return
	}
	m, isToken := ev.Token, true
	if m == nil {
		m, isToken = ev.Card, false
	}
	if _, ok := card.ParseExpMonth(m.ExpiryMonth); !ok {
		r.observe("juspay", "malformed")
		http.Error(w, "expiry_month is not a month", http.StatusBadRequest)
		return
	}
	if _, ok := card.ParseExpYear(m.ExpiryYear); !ok {
		r.observe("juspay", "malformed")
		http.Error(w, "expiry_year is not a year", http.StatusBadRequest)
		return
	}
	id := url.PathEscape(m.CustomerID) + "/" + m.CardReference // the juspay provider's token ids
	outcome := r.update(req.Context(), "juspay", id, time.Time{}, func(rec *vault.Record) string {
		month, year := &rec.ExpMonth, &rec.ExpYear
		if isToken {
			month, year = &rec.Network.ExpMonth, &rec.Network.ExpYear
		}
		switch expiryOrder(m.ExpiryMonth, m.ExpiryYear, *month, *year) {
		case 0:
			return outcomeUnchanged
		case -1:
			return outcomeStale // a renewal delivered before this one
		}
		*month, *year = m.ExpiryMonth, m.ExpiryYear
		return outcomeUpdated
	})
	r.answer(w, "juspay", outcome)
}

// expiryOrder compares expiry a with b: -1 earlier, 0 the same, 1 later.
// b unreadable (none recorded yet) counts as earlier than any a.
func expiryOrder(am, ay, bm, by string) int {
	m, _ := card.ParseExpMonth(am)
	y, _ := card.ParseExpYear(ay)
	om, okM := card.ParseExpMonth(bm)
	oy, okY := card.ParseExpYear(by)
	switch {
	case !okM || !okY:
		return 1
	case y != oy:
		return cmp.Compare(y, oy)
	}
	return cmp.Compare(m, om)
}

// The outcomes a change reports, as the answer and the metric say them.
const (
	outcomeUpdated   = "updated"
	outcomeUnchanged = "unchanged"
	outcomeStale     = "stale"
)

// BasisTheory handles Basis Theory's network-token.updated and
// network-token.deleted events.
func (r *Receiver) BasisTheory(w http.ResponseWriter, req *http.Request) {
	data, ok := read(w, req)
	if !ok {
		return
	}
	if err := r.verifyBT(data, req.Header.Get("BT-SIGNATURE")); err != nil {
		r.observe("basistheory", "unauthorized")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		Event struct {
			Type      string    `json:"type"`
			Timestamp time.Time `json:"timestamp"`
			Data      struct {
				NetworkToken struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"network_token"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Event.Data.NetworkToken.ID == "" {
		r.observe("basistheory", "malformed")
		http.Error(w, "not a network token event", http.StatusBadRequest)
		return
	}
	status := map[string]string{"active": network.StatusActive, "suspended": network.StatusSuspended, "inactive": network.StatusDeleted}[ev.Event.Data.NetworkToken.Status]
	if ev.Event.Type == "network-token.deleted" {
		status = network.StatusDeleted
	}
	if status == "" {
		r.answer(w, "basistheory", "ignored")
		return
	}
	outcome := r.update(req.Context(), "basistheory", ev.Event.Data.NetworkToken.ID, ev.Event.Timestamp, func(rec *vault.Record) string {
		if rec.Network.Status == status || rec.Network.Status == network.StatusDeleted {
			return outcomeUnchanged // news only; deleted is final
		}
		rec.Network.Status = status
		return outcomeUpdated
	})
	r.answer(w, "basistheory", outcome)
}

// update applies change to the record holding the provider's token,
// compare-and-set, reading again on a conflict. An event (at, when the
// provider says when) older than the last one applied to the token is
// ignored: it was delivered out of order. A newer event is remembered even
// when it changes nothing (the state it reports is already the record's),
// so that an older one arriving after it cannot undo it.
func (r *Receiver) update(ctx context.Context, provider, id string, at time.Time, change func(*vault.Record) string) string {
	for range 3 {
		rec, err := r.Vault.GetByNetworkToken(ctx, provider, id)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return "unknown_token"
		case err != nil:
			return r.unavailable(ctx, fmt.Errorf("reading the token's record: %w", err))
		}
		vault.Invalidate(r.Vault, rec.Tenant, rec.Token)
		last := rec.Network.EventAt
		if !at.IsZero() && at.Before(last) {
			return outcomeStale
		}
		next := rec
		next.Metadata = maps.Clone(rec.Metadata)
		outcome := change(&next)
		newer := !at.IsZero() && at.After(last) && next.Network.Status != network.StatusDeleted
		if outcome != outcomeUpdated && !newer {
			return outcome
		}
		if newer {
			next.Network.EventAt = at
		}
		_, err = r.Vault.Update(ctx, next)
		if err == nil {
			if next.Network.Status != rec.Network.Status {
				if r.Lifecycle != nil && r.Lifecycle.Observe != nil {
					r.Lifecycle.Observe(provider, next.Network.Status)
				}
				if r.Audit != nil {
					if err := r.Audit.Record(ctx, lifecycle.StatusEntry(ctx, next, next.Network.Status, lifecycle.ReasonWebhook, audit.OutcomeOK)); err != nil {
						return r.unavailable(ctx, fmt.Errorf("the audit entry of a token state change could not be written (the change is applied): %w", err))
					}
				}
			}
			return outcome
		}
		if !errors.Is(err, vault.ErrConflict) {
			return r.unavailable(ctx, fmt.Errorf("updating the token's record: %w", err))
		}
	}
	return r.unavailable(ctx, fmt.Errorf("the token's record changed under each of 3 updates: %w", vault.ErrConflict))
}

// outcomeUnavailable is update's outcome when the vault failed: answered
// 503, so that the provider sends the event again.
const outcomeUnavailable = "unavailable"

// unavailable reports the cause of a failed update to Failed: the answer
// (503) says nothing of it.
func (r *Receiver) unavailable(ctx context.Context, cause error) string {
	if r.Failed != nil {
		r.Failed(ctx, cause)
	}
	return outcomeUnavailable
}

// answer acknowledges the event: 200 for anything the provider need not
// send again (an unknown token included: retrying will not help), 503 to
// have it retried.
func (r *Receiver) answer(w http.ResponseWriter, provider, outcome string) {
	r.observe(provider, outcome)
	if outcome == outcomeUnavailable {
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"received":true,"outcome":"` + outcome + `"}`))
}

// verifyBT checks BT-SIGNATURE: base64 RSA-PSS SHA-256 over the body
// stringified with sorted keys (json-stable-stringify).
func (r *Receiver) verifyBT(body []byte, signature string) error {
	if r.BasisTheoryKey == nil {
		return errors.New("no key configured")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return err
	}
	stable, err := StableStringify(body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(stable)
	return rsa.VerifyPSS(r.BasisTheoryKey, crypto.SHA256, sum[:], sig, nil)
}

// StableStringify re-encodes JSON with object keys sorted and no spaces,
// as json-stable-stringify does (numbers kept as written, no HTML escaping).
func StableStringify(body []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}
