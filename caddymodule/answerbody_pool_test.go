package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokengate/tokengate/responseguard"
)

// TestAnswerBodyPoolConcurrent: small answers guarded at once from many
// goroutines, of each kind guardResponse keeps (unchanged: the answer's own
// array; redacted into the pooled one; outgrown: a new array), read while
// another goroutine closes them, give only their own bytes, in order, and
// the pool is left with cleared arrays only (run with -race too).
func TestAnswerBodyPoolConcurrent(t *testing.T) {
	const dpan = "4895370012003478"
	// A one-byte cryptogram: each "01" of an answer becomes "***", which
	// outgrows the room answerRoom gives.
	g := responseguard.New([]responseguard.Secret{{Value: dpan, With: "tok_x"}, {Value: "AQ", With: responseguard.Mask}})
	redactions := prometheus.NewCounter(prometheus.CounterOpts{Name: "test"})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				pad := strings.Repeat(string(rune('a'+w)), i*37%3000)
				body := [][]byte{
					[]byte(fmt.Sprintf(`{"id":"%d-%d","pad":"%s"}`, w, i, pad)),                // unchanged
					[]byte(fmt.Sprintf(`{"id":"%d-%d","n":"%s","pad":"%s"}`, w, i, dpan, pad)), // redacted
					[]byte(fmt.Sprintf("id=%d-%d&c=%s&pad=%s", w, i, strings.Repeat("01 ", 400), pad[:i%20])),
				}[i%3]
				want, _ := g.Bytes(bytes.Clone(body))
				r, err := guardResponse(&http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, g, redactions)
				if err != nil {
					t.Errorf("%d-%d: %v", w, i, err)
					return
				}
				if i%3 == 2 && len(want) <= answerRoom(len(body)) {
					// Outgrown when the pooled array has no more room than that.
					t.Errorf("%d-%d: the answer cannot outgrow its room (%d <= %d)", w, i, len(want), answerRoom(len(body)))
				}
				var got []byte
				done := make(chan struct{})
				go func() {
					defer close(done)
					p := make([]byte, 1+i%97)
					for {
						n, err := r.Body.Read(p)
						got = append(got, p[:n]...)
						if err != nil {
							return
						}
					}
				}()
				if i%2 == 0 {
					r.Body.Close() // while it is read
				}
				<-done
				r.Body.Close()
				if !bytes.HasPrefix(want, got) || i%2 == 1 && len(got) != len(want) {
					t.Errorf("%d-%d: read %q, want (a prefix of) %q", w, i, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	for range 16 {
		p := responseBuffers.Get().(*[]byte)
		if nonZero(*p) {
			t.Fatal("a pooled response array was not cleared")
		}
		defer responseBuffers.Put(p)
	}
}
