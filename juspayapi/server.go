// Package juspayapi serves Juspay's tokenization APIs (seeds 000, 002, 004)
// from tokengate's vault, keys and network token services, so that a
// merchant (or a Hyperswitch) integrated with Juspay can point its base URL
// at tokengate. It is plain net/http; caddymodule mounts it as the
// juspay_api handler.
package juspayapi

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/lifecycle"
	"github.com/tokengate/tokengate/purge"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

// Merchant is a Juspay merchant account: its id, the tokengate tenant whose
// cards it works on, and its public keys (by key id) that generateToken
// answers are encrypted to.
type Merchant struct {
	ID     string
	Tenant string
	Keys   map[string]*rsa.PublicKey
}

// maxBody bounds a request body: a generateToken request is a few KiB.
const maxBody = 64 << 10

// Server is the API. It is safe for concurrent use.
type Server struct {
	// Tokenizer stores cards exactly as inbound tokenization does.
	Tokenizer *tokenize.Tokenizer
	// Vault holds the records (the same cache the gateway uses).
	Vault vault.Vault
	// Keys open records for their network token numbers.
	Keys *keys.Keys
	// Lifecycle fetches cryptograms and changes token states.
	Lifecycle *lifecycle.Manager
	// Authenticate maps the Basic auth user (the API key) to its merchant.
	Authenticate func(apiKey string) (Merchant, bool)
	// MerchantByID finds a merchant by its id, for /card/tokenize, which
	// takes no API key (it is called from the customer's browser or app).
	MerchantByID func(id string) (Merchant, bool)
	// CardTokenTTL is how long a ctkn_ card token lives (15 minutes when 0).
	CardTokenTTL time.Duration
	// CardTokensPerMerchant bounds the ctkn_ tokens /card/tokenize holds
	// at once for one merchant (DefaultCardTokensPerMerchant when 0): past
	// it that merchant's calls get 429, and no other's.
	CardTokensPerMerchant int
	// ClientRate and ClientBurst are /card/tokenize's token bucket per
	// client (DefaultClientRate and DefaultClientBurst when 0): past it,
	// 429 with Retry-After.
	ClientRate  rate.Limit
	ClientBurst int
	// ClientIP, when set, returns the client's address as the host knows
	// it (Caddy's client IP, after trusted proxies); "" or unset means the
	// connection's peer.
	ClientIP func(*http.Request) string
	// TokenizeTruePerMinute bounds /card/tokenize's tokenize=true (a card
	// kept, a network token provisioned) per merchant per minute
	// (DefaultTokenizeTruePerMinute when 0): past it, 429.
	TokenizeTruePerMinute int
	// DecryptionKeys decrypt generateToken's cardData, by JWE kid.
	DecryptionKeys map[string]*rsa.PrivateKey
	// Observe, when set, is told of every answered call: the endpoint (a
	// route pattern, never an id) and the status.
	Observe func(endpoint string, status int)
	// Failed, when set, is told the cause of every 503 (the answer tells
	// the client nothing of it), with the request's context: the host logs
	// it.
	Failed func(ctx context.Context, cause error)
	// RequestID, when set, returns the id of the caller's request, which
	// an error body carries as error_info.request_id: the host's own id
	// (caddymodule gives Caddy's request UUID), so that the answer joins
	// the host's logs. Unset, each such answer gets a fresh UUID.
	RequestID func(*http.Request) string
	// Audit, when set, records every network token number and cryptogram
	// answered (/v4/card/get, /generateToken) before it is; one it cannot
	// record is answered 503 instead (see audit.go).
	Audit audit.Recorder
	// Eraser erases a card on /v4/card/delete of its last customer (see
	// package purge). Nil: one over Vault, Lifecycle and Audit, with no
	// CVV store to drop a held CVV from.
	Eraser *purge.Eraser

	limits limits
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
	route := func(pattern string, h func(*http.Request, Merchant) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status := s.serve(w, r, h)
			if s.Observe != nil {
				s.Observe(pattern, status)
			}
		})
	}
	mux.HandleFunc("POST /card/tokenize", func(w http.ResponseWriter, r *http.Request) {
		status := s.cardTokenize(w, r)
		if s.Observe != nil {
			s.Observe("POST /card/tokenize", status)
		}
	})
	route("POST /generateToken", s.generateToken)
	route("POST /v4/card/get", s.getCard)
	route("POST /v4/card/delete", s.deleteCard)
	route("POST /v4/card/status", s.tokenStatus)
	route("GET /cards", s.listCards)
	route("GET /cardbins/{bin}", s.cardBin)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusNotFound, failure("Not Found", "No such endpoint."))
		if s.Observe != nil {
			s.Observe("unknown", http.StatusNotFound)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&answerWriter{ResponseWriter: w, r: r, requestID: s.RequestID}, r)
	})
}

// serve authenticates (Basic auth: the API key as user, an empty
// password; x-merchantid, when sent, must name the key's merchant), then
// runs h and writes its answer as JSON.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, h func(*http.Request, Merchant) (int, any)) int {
	user, _, ok := r.BasicAuth()
	m, known := s.Authenticate(user)
	if !ok || !known || r.Header.Get("x-merchantid") != "" && r.Header.Get("x-merchantid") != m.ID {
		write(w, http.StatusUnauthorized, accessDenied)
		return http.StatusUnauthorized
	}
	if s.Audit != nil {
		r = r.WithContext(audit.WithAPIKey(r.Context(), audit.APIKeyID(user)))
	}
	status, out := h(r, m)
	write(w, status, out)
	return status
}

func write(w http.ResponseWriter, status int, out any) {
	fillRequestID(w, out)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// accessDenied is seed 002's 401.
var accessDenied = map[string]any{"status": "error", "error_code": "access_denied", "error_message": "Invalid or missing API key.",
	"error_info": map[string]any{"code": "access_denied", "category": "USER_ERROR", "developer_message": "Send the API key as the Basic auth user, with an empty password."}}

// inputError is Juspay's validation error (seed 001): a top-level
// error_message, status "error", an error_code (invalid, invalidRange,
// nullable...) and error_info naming the field. It never holds a value.
func inputError(field, code, developerMessage string) map[string]any {
	field = body.SafePath(field) // names come from the caller
	return map[string]any{
		"error_message": developerMessage,
		"status":        "error",
		"error_code":    code,
		"error_info": map[string]any{
			"category":          "USER_ERROR",
			"code":              "INVALID_INPUT",
			"developer_message": developerMessage,
			"fields":            []map[string]string{{"field_name": field, "reason": reasonFor(code)}},
			"href":              "NA",
			"request_id":        "", // the caller's: see fillRequestID
			"user_message":      developerMessage,
		},
	}
}

func reasonFor(code string) string {
	if code == "nullable" {
		return "Missing value."
	}
	return "Invalid value."
}

// failure is the {error, user_message, error_message} shape of seed 002's
// 400 ("Stored Card Entry Not Found").
func failure(errorMessage, userMessage string) map[string]any {
	return map[string]any{"error": true, "user_message": userMessage, "error_message": errorMessage}
}

var notFound = failure("Not Found", "Stored Card Entry Not Found")

// decode reads a JSON body of at most maxBody bytes into v; a problem is
// returned as the error answer.
func decode(r *http.Request, v any) map[string]any {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	switch {
	case err != nil:
		return inputError("body", "invalid", "The request body could not be read.")
	case len(data) > maxBody:
		return inputError("body", "invalid", "The request body is larger than 64 KiB.")
	case len(strings.TrimSpace(string(data))) == 0:
		return inputError("body", "nullable", "A JSON request body is required.")
	}
	if _, err := body.Parse(body.JSON, "application/json", data); err != nil {
		var dup *body.DuplicateKeyError
		if errors.As(err, &dup) {
			return inputError(dup.Path, "invalid", "An object of the request body names a member twice.")
		}
		return inputError("body", "invalid", "The request body is not valid JSON.")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return inputError(te.Field, "invalid", "The field "+te.Field+" has the wrong type.")
		}
		return inputError("body", "invalid", "The request body is not valid JSON.")
	}
	return nil
}
