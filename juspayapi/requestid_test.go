package juspayapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/tokengate/tokengate/juspayapi"
)

// Every error body in seed 001's shape (a 400 naming a field, a 429)
// carries the caller's request id as RequestID gives it, so that the answer
// joins the host's logs; without RequestID, a fresh UUID per answer.
func TestErrorBodiesCarryTheRequestID(t *testing.T) {
	a := newAPI(t, testClientIP, func(s *juspayapi.Server) {
		s.RequestID = func(r *http.Request) string { return "req-" + r.Header.Get("X-Test-Client") }
		s.ClientBurst, s.ClientRate = 1, 0.001
	})
	requestID := func(r reply) any {
		info, _ := decode(t, r.body)["error_info"].(map[string]any)
		return info["request_id"]
	}
	r, _ := a.formFrom("card_number=4111111111111112", map[string]string{"X-Test-Client": "1"})
	if r.status != http.StatusBadRequest || requestID(r) != "req-1" {
		t.Fatalf("400: %d %s, want request_id req-1", r.status, r.body)
	}
	r, h := a.formFrom("card_number=4111111111111112", map[string]string{"X-Test-Client": "1"})
	if isTooMany(t, r, h); requestID(r) != "req-1" {
		t.Fatalf("429: %s, want request_id req-1", r.body)
	}
	if r := a.do("POST", "/generateToken", apiKey, `{}`); r.status != http.StatusBadRequest || requestID(r) != "req-" {
		t.Fatalf("generateToken 400: %d %s, want request_id req-", r.status, r.body)
	}

	plain := newAPI(t)
	first, second := plain.do("POST", "/generateToken", apiKey, `{}`), plain.do("POST", "/generateToken", apiKey, `{}`)
	id, _ := requestID(first).(string)
	if _, err := uuid.Parse(id); err != nil || requestID(second) == id {
		t.Fatalf("without RequestID: %s then %s, want a fresh UUID each", first.body, second.body)
	}
}
