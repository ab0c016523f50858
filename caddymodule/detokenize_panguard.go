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
		place, found = docPAN(set, kind, doc)
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

// docPAN returns the path of the first text of doc, but the values of the
// rule set's token fields (the merchant's tokens; a network token, under
// the network_token token format, is a card number), that holds a card
// number as a lenient reader reads it.
// The texts are read as a list, and the token fields' paths kept in a
// slice (a body has one or a few), not a map: no closure, map or captured
// variables per request.
func docPAN(set *rules.Outbound, kind body.Kind, doc body.Doc) (string, bool) {
	var skip []body.Value
	for _, f := range set.Fields {
		if f.Kind != rules.KindToken {
			continue
		}
		sel := f.Form
		if kind == body.JSON {
			sel = f.JSON
		}
		if sel != "" {
			skip = body.FindAppend(doc, skip, sel)
		}
	}
	var skipMap map[string]bool
	if len(skip) > maxSkipList {
		// A bulk body of many cards: looked up, not searched.
		skipMap = make(map[string]bool, len(skip))
		for _, v := range skip {
			skipMap[v.Path] = true
		}
	}
	for _, t := range body.TextList(doc) {
		if !t.Name && skipped(skip, skipMap, t.Path) {
			continue
		}
		if panguard.HasNumber(t.Text) {
			return panguard.SafeName(t.Path), true
		}
	}
	return "", false
}

// maxSkipList is the most token values docPAN searches one by one.
const maxSkipList = 8

// skipped reports whether path is one of skip's (skipMap, when set, holds
// them all).
func skipped(skip []body.Value, skipMap map[string]bool, path string) bool {
	if skipMap != nil {
		return skipMap[path]
	}
	for _, v := range skip {
		if v.Path == path {
			return true
		}
	}
	return false
}
