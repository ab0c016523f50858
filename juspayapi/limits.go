package juspayapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// /card/tokenize takes no API key (Juspay calls it from the customer's
// browser), so whoever knows a merchant id can call it. These bound what
// one caller can make it do; they are fairness between the merchants and
// clients of one gateway, which a generic edge limiter (caddy-ratelimit's
// rate_limit, placed before juspay_api) cannot key: it does not know
// which merchant a form names.
const (
	// DefaultCardTokensPerMerchant is how many ctkn_ tokens one merchant
	// holds at once: a tenth of the gateway's short-lived bound
	// (vault.MaxShortLived), whose other half is kept for the gateway's
	// own no-consent checkouts.
	DefaultCardTokensPerMerchant = 10_000
	// DefaultClientRate and DefaultClientBurst are the per-client token
	// bucket: a checkout tokenizes a card or two; a retyped CVV, a wrong
	// expiry and a second card fit in the burst.
	DefaultClientRate  rate.Limit = 10
	DefaultClientBurst            = 20
	// DefaultTokenizeTruePerMinute bounds tokenize=true (a card kept, with
	// a network token provisioned) per merchant per minute, as a burst of
	// as many that refills over the minute.
	DefaultTokenizeTruePerMinute = 60

	// clientLimiters bounds the per-client limiters held; the least
	// recently seen goes first (a client forgotten starts with a full
	// bucket, which costs at most one burst).
	clientLimiters   = 100_000
	clientLimiterTTL = 10 * time.Minute
	// quotaRetryAfter is the Retry-After of a merchant at its ctkn_ quota:
	// room comes back as its oldest tokens expire.
	quotaRetryAfter = time.Minute
)

// limits are the Server's limiters, made on first use.
type limits struct {
	once     sync.Once
	mu       sync.Mutex
	clients  *expirable.LRU[string, *rate.Limiter]
	merchant map[string]*rate.Limiter // tokenize=true, by merchant id (configured ones only)
}

func (s *Server) initLimits() {
	s.limits.once.Do(func() {
		s.limits.clients = expirable.NewLRU[string, *rate.Limiter](clientLimiters, nil, clientLimiterTTL)
		s.limits.merchant = map[string]*rate.Limiter{}
	})
}

// allowClient takes a token from the client's bucket; when it is empty it
// returns how long until the next one.
func (s *Server) allowClient(r *http.Request) (bool, time.Duration) {
	s.initLimits()
	limit, burst := s.ClientRate, s.ClientBurst
	if limit <= 0 {
		limit = DefaultClientRate
	}
	if burst <= 0 {
		burst = DefaultClientBurst
	}
	k := clientKey(s.clientIP(r))
	s.limits.mu.Lock()
	l, ok := s.limits.clients.Get(k)
	if !ok {
		l = rate.NewLimiter(limit, burst)
		s.limits.clients.Add(k, l)
	}
	s.limits.mu.Unlock()
	return allow(l)
}

// allowTokenizeTrue takes a token from the merchant's tokenize=true bucket.
func (s *Server) allowTokenizeTrue(merchantID string) (bool, time.Duration) {
	s.initLimits()
	per := s.TokenizeTruePerMinute
	if per <= 0 {
		per = DefaultTokenizeTruePerMinute
	}
	s.limits.mu.Lock()
	l, ok := s.limits.merchant[merchantID]
	if !ok {
		l = rate.NewLimiter(rate.Limit(float64(per)/60), per)
		s.limits.merchant[merchantID] = l
	}
	s.limits.mu.Unlock()
	return allow(l)
}

func allow(l *rate.Limiter) (bool, time.Duration) {
	now := time.Now()
	if l.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - l.TokensAt(now)
	return false, time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}

// clientIP is the client's address: Caddy's client IP (trusted proxies
// applied) when the host gives it, else the connection's peer.
func (s *Server) clientIP(r *http.Request) string {
	if s.ClientIP != nil {
		if ip := s.ClientIP(r); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey keys a client's bucket: an IPv4 address, or an IPv6 /64 (one
// host is usually given a whole /64, and would otherwise have 2^64 buckets).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// tooManyRequests answers 429 with Retry-After (whole seconds, at least 1)
// in Juspay's error shape (seed 001's, with no field to name).
func tooManyRequests(w http.ResponseWriter, after time.Duration, developerMessage string) int {
	secs := int(math.Ceil(after.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return respond(w, http.StatusTooManyRequests, map[string]any{
		"error_message": developerMessage,
		"status":        "error",
		"error_code":    "too_many_requests",
		"error_info": map[string]any{
			"category":          "USER_ERROR",
			"code":              "TOO_MANY_REQUESTS",
			"developer_message": developerMessage,
			"fields":            []map[string]string{},
			"href":              "NA",
			"request_id":        "", // the caller's: see fillRequestID
			"user_message":      "Too many requests; please try again in a moment.",
		},
	})
}
