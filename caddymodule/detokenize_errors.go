package caddymodule

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// The answers of a payment the gateway could not prepare, in words about a
// payment: errUnavailable's "The card could not be stored safely" is
// tokenize's.

// errVaultUnavailableOutbound answers a payment whose card could not be
// read (the vault or another service failed): 503, retry later. The code
// is tokenize's, vault_unavailable, so clients and alerts keyed on it keep
// working.
var errVaultUnavailableOutbound = gatewayError{status: http.StatusServiceUnavailable, code: "vault_unavailable", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
	message: "The card could not be read from the vault; nothing was forwarded. Retry later."}

// errRecordUnreadable answers a payment whose card record was found and
// does not open with the gateway's keys (sealed with another keyset, as
// after a migrate from a vault of another keyset; or altered or moved). It
// was answered 503 vault_unavailable, "The card could not be stored
// safely": wrong words for a payment, and a retry cannot help. 500, as
// token_not_replaced: the gateway's configuration or its data is at
// fault, not the request and not a passing outage.
func errRecordUnreadable(field string) gatewayError {
	const reason = "the card's record cannot be opened with this gateway's keys"
	return gatewayError{status: http.StatusInternalServerError, code: "record_unreadable", category: "SERVER_ERROR", infoCode: "INTERNAL_ERROR",
		message: "The card's record cannot be opened with this gateway's keys; nothing was forwarded. The gateway's keyset or its vault needs fixing; retrying will not help.",
		field:   &body.FieldError{Status: http.StatusInternalServerError, Field: body.SafePath(field), Code: "record_unreadable", Reason: reason}}
}

// recordsUnreadable counts them, by rule set and reason (other_keyset,
// altered_or_moved, no_key_id). Any is worth an alert: a keyset that lacks
// a key in use, or a vault whose rows were changed.
var recordsUnreadable = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Name: "records_unreadable_total",
	Help: "Payments refused because the card's record does not open with this gateway's keys, by rule set and reason (other_keyset, altered_or_moved, no_key_id).",
}, []string{"rule_set", "reason"})

// answerUnreadable answers it, logs it once as an error (the tenant, the
// field, the key id the record carries, the request id; never the token,
// which the audit lines never carry either) and counts it.
func (h *Detokenize) answerUnreadable(w http.ResponseWriter, r *http.Request, set *rules.Outbound, tenant string, ur *detokenize.UnreadableError) {
	errRecordUnreadable(ur.Field).because(ur).answer(w, r)
	msg := "a card record filed under this tenant does not open for it with this gateway's keys: sealed with a keyset this gateway does not hold; request not forwarded"
	if ur.KeyHeld {
		msg = "a card record filed under this tenant does not open for it, though the keyset holds its key: the record was altered or moved (possible tampering); request not forwarded"
	}
	fields := []zap.Field{zap.String("field", body.SafePath(ur.Field)), zap.String("reason", ur.Reason())}
	if ur.HasKeyID {
		fields = append(fields, zap.Uint32("key_id", ur.KeyID))
	}
	h.audit(zap.ErrorLevel, msg, r, set, tenant, nil, fields...)
	recordsUnreadable.WithLabelValues(set.Name, ur.Reason()).Inc()
}
