package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// canonEntry is Entry without Hash, its fields declared in the order
// Canonical sorts their JSON names (byte order), so that json.Marshal of it
// is, byte for byte, Canonical of the line json.Marshal(Entry) writes:
// both omit the same empty fields, encode strings, numbers and the time
// alike, and sort Detail's keys (a map). Record hashes it directly instead
// of marshaling the entry, decoding that into a map and marshaling the map
// again (most of an entry's cost). TestCanonEntryFields keeps it in step
// with Entry; a field added to Entry must be added here in its sorted place.
type canonEntry struct {
	Action      string            `json:"action"`
	APIKey      string            `json:"api_key,omitempty"`
	Destination string            `json:"destination,omitempty"`
	Detail      map[string]string `json:"detail,omitempty"`
	Gateway     string            `json:"gateway,omitempty"`
	Outcome     string            `json:"outcome,omitempty"`
	Prev        string            `json:"prev,omitempty"`
	RequestID   string            `json:"request_id,omitempty"`
	RuleSet     string            `json:"rule_set,omitempty"`
	Seq         uint64            `json:"seq"`
	Tenant      string            `json:"tenant,omitempty"`
	Time        time.Time         `json:"time"`
	Tokens      []canonToken      `json:"tokens,omitempty"`
	TraceID     string            `json:"trace_id,omitempty"`
}

// canonToken is TokenUse with its fields in sorted order (see canonEntry).
type canonToken struct {
	Became string `json:"became,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	Token  string `json:"token"`
}

// validUTF8 says whether every string of e is valid UTF-8. encoding/json
// writes an invalid byte as the escape \ufffd, which Canonical decodes and
// writes again as the character itself: such an entry takes the slow path.
func validUTF8(e *Entry) bool {
	for _, s := range [...]string{e.Gateway, e.Action, e.Outcome, e.Tenant, e.APIKey, e.RuleSet, e.Destination, e.RequestID, e.TraceID, e.Prev} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, t := range e.Tokens {
		if !utf8.ValidString(t.Token) || !utf8.ValidString(t.Field) || !utf8.ValidString(t.Became) || !utf8.ValidString(t.Reason) {
			return false
		}
	}
	for k, v := range e.Detail {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// canonicalOf returns Canonical(json.Marshal(e)) for an entry whose Hash is
// empty, without the round trip (see canonEntry).
func canonicalOf(e *Entry) ([]byte, error) {
	if !validUTF8(e) {
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		return Canonical(raw)
	}
	ce := canonEntry{
		Action: e.Action, APIKey: e.APIKey, Destination: e.Destination, Detail: e.Detail, Gateway: e.Gateway,
		Outcome: e.Outcome, Prev: e.Prev, RequestID: e.RequestID, RuleSet: e.RuleSet, Seq: e.Seq,
		Tenant: e.Tenant, Time: e.Time, TraceID: e.TraceID,
	}
	if len(e.Tokens) > 0 {
		ce.Tokens = make([]canonToken, len(e.Tokens))
		for i, t := range e.Tokens {
			ce.Tokens[i] = canonToken{Became: t.Became, Field: t.Field, Reason: t.Reason, Token: t.Token}
		}
	}
	return json.Marshal(&ce)
}

// appendLine sets e.Hash to the hex SHA-256 of e's canonical encoding (e's
// other chain fields set, its Hash empty) and appends the line written for
// it to dst: the canonical encoding with "hash" added as its last member.
// Canonical of that line is what was hashed, so it verifies as a line
// json.Marshal(Entry) wrote does; only the members' order differs.
func appendLine(dst []byte, e *Entry) ([]byte, error) {
	c, err := canonicalOf(e)
	if err != nil {
		return dst, err
	}
	sum := sha256.Sum256(c)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	e.Hash = string(h[:])
	dst = append(dst, c[:len(c)-1]...) // c is an object: it ends with '}'
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, h[:]...)
	return append(dst, `"}`...), nil
}
