package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tokengate/tokengate/responseguard"
)

// failAfter reads b, then fails instead of ending.
type failAfter struct{ b []byte }

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// Answers guarded at once from many goroutines, whole, streamed (read
// only after later answers reused the pooled peek readers), refused for a
// NUL, or cut by a read error, each come back as their own body redacted:
// no peek reader is pooled while an answer still reads through it (run
// with -race too).
func TestGuardResponsePeekReaderPoolConcurrent(t *testing.T) {
	const dpan = "4895370012003478"
	g := responseguard.New([]responseguard.Secret{{Value: dpan, With: "tok_x"}})
	redactions := prometheus.NewCounter(prometheus.CounterOpts{Name: "test"})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending []*http.Response
			var wants []string
			for i := range 150 {
				body := []byte(fmt.Sprintf(`{"id":"%d-%d","n":"%s","pad":"%s"}`, w, i, dpan, strings.Repeat(string(rune('a'+w)), i*37%5000)))
				want, _ := g.Bytes(bytes.Clone(body))
				var src io.Reader = bytes.NewReader(body)
				length := int64(len(body))
				switch i % 4 {
				case 1:
					length = -1 // streamed
				case 2:
					src = &failAfter{b: body}
				case 3:
					body[len(body)/2] = 0
					src = bytes.NewReader(body)
				}
				r, err := guardResponse(&http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(src), ContentLength: length}, g, redactions)
				switch {
				case i%4 == 2 || i%4 == 3:
					if err == nil {
						if _, err = io.ReadAll(r.Body); err == nil {
							t.Errorf("%d-%d: no error", w, i)
						}
					}
				case err != nil:
					t.Errorf("%d-%d: %v", w, i, err)
				case length < 0:
					pending, wants = append(pending, r), append(wants, string(want))
				default:
					if got, _ := io.ReadAll(r.Body); string(got) != string(want) {
						t.Errorf("%d-%d: %q, want %q", w, i, got, want)
					}
				}
			}
			for k, r := range pending {
				if got, _ := io.ReadAll(r.Body); string(got) != wants[k] {
					t.Errorf("worker %d, streamed %d: %q, want %q", w, k, got, wants[k])
				}
			}
		}()
	}
	wg.Wait()
}
