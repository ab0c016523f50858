package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A big tokenized body (streamed, body.Stream) reaches the next handler
// with no card number, a Content-Length that matches it, and the same
// bytes again through GetBody (a retry), after the doc was released and
// other requests reused its parse state.
func TestTokenizeBigBodyStreamsSameBytes(t *testing.T) {
	app := testApp(t)
	h := boundTokenize(t, app)
	big := checkoutJSON(visaPAN)
	big = big[:len(big)-1] + `,"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	var first []byte
	var retry func() (io.ReadCloser, error)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if got := fmt.Sprintf("%T", r.Body); got != "*body.editedReader" {
			t.Errorf("body not streamed: %s", got)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), visaPAN) || strings.Contains(string(b), `"`+testCVV+`"`) {
			t.Errorf("card data forwarded")
		}
		if r.ContentLength != int64(len(b)) || r.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Errorf("Content-Length %d / %q for %d bytes", r.ContentLength, r.Header.Get("Content-Length"), len(b))
		}
		first, retry = b, r.GetBody
		return nil
	})
	req := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(big))
	req.Header.Set("Content-Type", jsonCT)
	if err := h.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatal("not forwarded")
	}
	// Other requests reuse the released parse state meanwhile.
	for range 3 {
		r2 := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(checkoutJSON("5555555555554444")))
		r2.Header.Set("Content-Type", jsonCT)
		if err := h.ServeHTTP(httptest.NewRecorder(), r2, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := retry()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(rc)
	if string(again) != string(first) {
		t.Fatal("GetBody gives other bytes than the body sent")
	}
}
