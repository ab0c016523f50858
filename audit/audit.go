// Package audit is tokengate's audit trail (PCI DSS 10.2, 10.3): one entry
// per access to card data or keys, written to a sink that chains every entry
// to the one before by hash and authenticates periodic checkpoints with a key
// from the keyset, so that an entry changed, removed, inserted or reordered
// is found by `caddy tokengate audit verify`.
//
// An entry never holds a PAN, a network token number (DPAN), a cryptogram or
// a CVV: tokens, tenants, key ids, hash prefixes and outcomes only. This file
// is the contract the parts that record (the detokenize handler, the served
// APIs, webhooks, key operations, purges) and the sinks share; it is free of
// Caddy.
package audit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Actions an entry records.
const (
	// ActionDetokenize: tokens in an outbound request were replaced by card
	// data (network token or PAN) toward a destination.
	ActionDetokenize = "detokenize"
	// ActionReveal: a served API returned card data (a PAN or a network
	// token number) to its caller.
	ActionReveal = "reveal"
	// ActionCryptogram: a served API returned a cryptogram.
	ActionCryptogram = "cryptogram"
	// ActionTokenStatus: a token's state changed (suspend, resume, delete),
	// through a served API or a network service's webhook.
	ActionTokenStatus = "token_status"
	// ActionKeys: a key operation (rotate, wrap, rewrap, disable) or a
	// keyset loaded whose keys differ from the last one recorded.
	ActionKeys = "keys"
	// ActionReseal: records re-sealed under the primary key (progress and
	// end of a re-seal).
	ActionReseal = "reseal"
	// ActionConfigLoad: a configuration was loaded (hashes of the rules and
	// the keyset, key ids).
	ActionConfigLoad = "config_load"
	// ActionBackup: a backup of the vault was taken or restored.
	ActionBackup = "backup"
	// ActionPurge: cards were deleted (purge, retention, a served API's
	// delete).
	ActionPurge = "purge"
)

// Outcomes.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
	OutcomeFailed  = "failed"
)

// Entry is one audited event. Seq, Prev, Hash and Gateway are set by the
// chain the entry is written to; the recorder fills in the rest.
type Entry struct {
	// Seq numbers the entries of one chain from 1, without gaps.
	Seq uint64 `json:"seq"`
	// Time is when the event happened (UTC).
	Time time.Time `json:"time"`
	// Gateway names the chain: one per gateway.
	Gateway string `json:"gateway,omitempty"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome,omitempty"`
	// Tenant whose data or keys were used.
	Tenant string `json:"tenant,omitempty"`
	// APIKey identifies the caller's credential as a prefix of its SHA-256
	// (never the key).
	APIKey string `json:"api_key,omitempty"`
	// RuleSet is the outbound rule set used.
	RuleSet string `json:"rule_set,omitempty"`
	// Destination is the host the data went toward.
	Destination string `json:"destination,omitempty"`
	// RequestID is Caddy's request id (the {http.request.uuid}), TraceID the
	// W3C trace id, when there is one.
	RequestID string `json:"request_id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`
	// Tokens are the tokens used and what each became.
	Tokens []TokenUse `json:"tokens,omitempty"`
	// Detail holds what else the action needs said (key ids, hashes,
	// counts, the command that ran), never card data.
	Detail map[string]string `json:"detail,omitempty"`
	// Prev is the hex hash of the entry before (or of the chain's anchor);
	// Hash is this entry's, over everything above and Prev.
	Prev string `json:"prev,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// TokenUse is one token in an entry.
type TokenUse struct {
	// Token is the token the caller sent.
	Token string `json:"token"`
	// Field is the (safe) path of the field it was in, when it was in a body.
	Field string `json:"field,omitempty"`
	// Became is what replaced it: "network_token", "pan" or "none", or the
	// new state for a status change.
	Became string `json:"became,omitempty"`
	// Reason says why (a fallback's reason, a state change's cause).
	Reason string `json:"reason,omitempty"`
}

// Recorder writes entries. Record returns once the entry is written as the
// sink promises (see its docs); an error means it was not, and the caller
// must not go on with the access it records (fail closed). A sink configured
// to fail open logs and counts its failures and returns nil.
type Recorder interface {
	Record(ctx context.Context, e Entry) error
}

// Discard records nothing: the recorder when no audit sink is configured.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record(context.Context, Entry) error { return nil }

// Memory keeps entries in memory, for tests.
type Memory struct {
	mu      sync.Mutex
	entries []Entry
	// Err, when set, is returned by Record instead of keeping the entry.
	Err error
}

// Record keeps e.
func (m *Memory) Record(_ context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return m.Err
	}
	m.entries = append(m.entries, e)
	return nil
}

// Entries returns a copy of what was recorded.
func (m *Memory) Entries() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entries)
}
