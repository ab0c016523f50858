package caddymodule

import (
	"net/http"
	"net/textproto"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/panguard"
	"github.com/tokengate/tokengate/rules"
)

// outboundPANGuard applies the outbound rule set's pan_guard before anything
// is detokenized. A merchant holds tokens, so a card number anywhere in its
// request but the token fields' values (the body's other values and member
// names, the query string, the path, header values and names, cookies,
// trailers of a body that was read) is a mistake, or a probe: values the
// processor echoes come back through the response guard, and a merchant
// must not learn from that echo whether a candidate equals the card behind
// its token. Under reject it is refused with 400 pan_detected naming the
// place, never the value; under log it is logged and counted and the
// request goes on; off does not look. A body that is not JSON or a form
// (doc nil) is not detokenized, but it is read whole (raw) as lenient
// readers would, since the processor may echo it. ok=false means an answer
// was written.
func (h *Detokenize) outboundPANGuard(w http.ResponseWriter, r *http.Request, set *rules.Outbound, kind body.Kind, doc body.Doc, raw []byte) (ok bool) {
	if set.PANGuard == rules.PANOff {
		r.Trailer = nil
		return true
	}
	keyHeader := textproto.CanonicalMIMEHeaderKey(h.APIKeyHeader)
	place, found := outsideBody(r, func(name string) bool { return name == keyHeader })
	uri := found
	if !found {
		place, found = panguard.Trailers(r)
	}
	r.Trailer = nil // checked; the detokenized body is sent with a length
	if !found && doc != nil {
		place, found = docPAN(doc, tokenPaths(set, kind, doc))
	} else if !found {
		place, found = panguard.Body(r.Header.Get("Content-Type"), raw)
	}
	if !found {
		return true
	}
	if uri {
		hideFromAccessLog(h.logger, r, place)
	}
	panGuardHits.WithLabelValues(set.Name, string(set.PANGuard)).Inc()
	if set.PANGuard == rules.PANLog {
		h.logger.Warn("card numbers found outside the token fields of a merchant's request (pan_guard: log)",
			zap.String("rule_set", set.Name), zap.String("paths", body.SafePath(place)), zap.Int("count", 1), requestLog(r))
		return true
	}
	id := fieldFailure(&body.FieldError{Status: http.StatusBadRequest, Field: place, Code: "pan_detected",
		Reason: "a card number is outside the token fields; a merchant sends its tokens, never card numbers"}).answer(w, r)
	h.logger.Warn("detokenize refused: a card number outside the token fields", zap.String("rule_set", set.Name),
		zap.String("field", body.SafePath(place)), zap.String("code", "pan_detected"), requestLogID(r.Context(), id))
	return false
}

// tokenPaths are the concrete paths of the rule set's token fields in doc:
// their values are the merchant's tokens (a network token, under the
// network_token token format, is a card number), so the guard skips them.
func tokenPaths(set *rules.Outbound, kind body.Kind, doc body.Doc) map[string]bool {
	paths := map[string]bool{}
	for _, f := range set.Fields {
		if f.Kind != rules.KindToken {
			continue
		}
		sel := f.Form
		if kind == body.JSON {
			sel = f.JSON
		}
		if sel == "" {
			continue
		}
		for _, v := range doc.Find(sel) {
			paths[v.Path] = true
		}
	}
	return paths
}

// docPAN returns the path of the first text of doc, but the values at skip,
// that holds a card number as a lenient reader reads it.
func docPAN(doc body.Doc, skip map[string]bool) (string, bool) {
	place, found := "", false
	doc.Texts(func(t body.Text) {
		if found || !t.Name && skip[t.Path] {
			return
		}
		if panguard.HasNumber(t.Text) {
			place, found = panguard.SafeName(t.Path), true
		}
	})
	return place, found
}
