package btapi

import (
	"bytes"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Idempotency implements BT-IDEMPOTENCY-KEY as Basis Theory documents it:
// the first successful answer to a POST or PUT is replayed for 24 hours to
// any request with the same key (per tenant, method and path); failures are
// not kept, so a failed call can be retried; a request arriving while the
// first is still running gets 409. Answers are kept in memory and replayed
// only to the API key they were made for: a network token object holds the
// network token number only for a key that may reveal it, and fetching the
// object again would show it to that key anyway. Cryptograms are not kept.
type Idempotency struct {
	mu       sync.Mutex
	inflight map[string]bool
	done     *expirable.LRU[string, *savedAnswer]
}

// NewIdempotency keeps up to max answers for ttl.
func NewIdempotency(max int, ttl time.Duration) *Idempotency {
	return &Idempotency{inflight: map[string]bool{}, done: expirable.NewLRU[string, *savedAnswer](max, nil, ttl)}
}

// Begin claims scope. replay is the saved answer when there is one; ok is
// false when another request holds the scope. Otherwise the caller runs
// the request and calls done with its answer (nil to keep nothing).
func (i *Idempotency) Begin(scope string) (done func(*savedAnswer), replay *savedAnswer, ok bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if a, found := i.done.Get(scope); found {
		return nil, a, true
	}
	if i.inflight[scope] {
		return nil, nil, false
	}
	i.inflight[scope] = true
	return func(a *savedAnswer) {
		i.mu.Lock()
		defer i.mu.Unlock()
		delete(i.inflight, scope)
		if a != nil && a.status < 300 {
			i.done.Add(scope, a)
		}
	}, nil, true
}

// savedAnswer is an answer to replay.
type savedAnswer struct {
	status      int
	contentType string
	body        []byte
}

func (a *savedAnswer) write(w http.ResponseWriter) {
	if a.contentType != "" {
		w.Header().Set("Content-Type", a.contentType)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// recorder passes an answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.buf.Write(p)
	return r.ResponseWriter.Write(p)
}

func (r *recorder) saved() *savedAnswer {
	return &savedAnswer{status: r.status, contentType: r.Header().Get("Content-Type"), body: bytes.Clone(r.buf.Bytes())}
}
