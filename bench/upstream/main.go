// Command upstream is the benchmark's stand-in merchant and payment
// processor: it answers every request with 200, the body it received and
// that body's Content-Type. GET /last answers with the body of the last
// other request, so that bench/run's checks can see what tokengate delivered
// (the echo itself reaches the client through the response guard,
// redacted). It is stdlib-only and listens on loopback.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// maxBody bounds what one request may make the echo server hold (the big
// body benchmark sends about 1 MiB).
const maxBody = 64 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address (host:port); keep it on loopback")
	flag.Parse()

	var last atomic.Pointer[[]byte]
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/last" {
			if b := last.Load(); b != nil {
				_, _ = w.Write(*b)
			}
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		last.Store(&b)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Printf("upstream: echoing on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
