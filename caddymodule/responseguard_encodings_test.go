package caddymodule

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tokengate/tokengate/responseguard"
)

func withType(r *http.Response, ct string) *http.Response {
	r.Header.Set("Content-Type", ct)
	return r
}

// TestGuardResponseEncodings: a gzip response is decoded and redacted; one
// the guard cannot read, or a protocol switch, is refused.
func TestGuardResponseEncodings(t *testing.T) {
	const dpan = "4895370012003478"
	g := responseguard.New([]responseguard.Secret{{Value: dpan, With: "tok_x"}})
	resp := func(status int, encoding string, body []byte) *http.Response {
		h := http.Header{"Content-Length": {"99"}}
		if encoding != "" {
			h.Set("Content-Encoding", encoding)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: 99}
	}

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(`{"number":"` + dpan + `"}`))
	zw.Close()
	// A response of known length is redacted whole and keeps a length; one
	// of unknown length is streamed.
	redactions := prometheus.NewCounter(prometheus.CounterOpts{Name: "test"})
	r, err := guardResponse(resp(200, "gzip", zipped.Bytes()), g, redactions)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	if string(got) != `{"number":"489537******3478"}` || r.Header.Get("Content-Encoding") != "" || r.Header.Get("Content-Length") != "29" || r.ContentLength != 29 {
		t.Errorf("gzip: %q %v %d", got, r.Header, r.ContentLength)
	}
	unknown := resp(200, "gzip", zipped.Bytes())
	unknown.ContentLength = -1
	unknown.Header.Del("Content-Length")
	if r, err = guardResponse(unknown, g, redactions); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if n := testutil.ToFloat64(redactions); n != 2 {
		t.Errorf("response_guard_redactions counted %v for the two answers, want 2", n)
	}
	if string(got) != `{"number":"489537******3478"}` || r.Header.Get("Content-Length") != "" || r.ContentLength != -1 {
		t.Errorf("gzip streamed: %q %v %d", got, r.Header, r.ContentLength)
	}

	for _, tc := range []struct {
		name string
		resp *http.Response
		want string
	}{
		{"brotli", resp(200, "br", []byte("xx")), `"br" encoding`},
		{"corrupt gzip", resp(200, "gzip", []byte("not gzip")), "does not decode"},
		{"protocol switch", resp(101, "", nil), "switched protocols"},
		{"utf-16 label", withType(resp(200, "", []byte("{}")), "application/json; charset=UTF-16LE"), "charset"},
		{"utf-32 label", withType(resp(200, "", []byte("{}")), `text/plain; charset="utf-32"`), "charset"},
		{"utf-16 BOM", resp(200, "", []byte("\xff\xfe{\x00}\x00")), "UTF-16"},
		{"utf-16BE BOM", resp(200, "", []byte("\xfe\xff\x00{\x00}")), "UTF-16"},
	} {
		_, err := guardResponse(tc.resp, g, prometheus.NewCounter(prometheus.CounterOpts{Name: "test"}))
		var refused *refusal
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
}

// TestGuardResponseJSON: a JSON answer (by its Content-Type, or by its
// first byte when it has none) keeps valid JSON where the guard masks a
// bare number, whole or streamed; other bodies are masked as before.
func TestGuardResponseJSON(t *testing.T) {
	g := responseguard.NewGuard(responseguard.Options{Secrets: []responseguard.Secret{{Value: "2030", With: responseguard.Mask, Whole: true}}})
	const body = `{"exp_month":3,"exp_year":2030}`
	for _, tc := range []struct{ ct, want string }{
		{"application/json", `{"exp_month":3,"exp_year":0}`},
		{"application/problem+json; charset=utf-8", `{"exp_month":3,"exp_year":0}`},
		{"", `{"exp_month":3,"exp_year":0}`},
		{"text/plain", `{"exp_month":3,"exp_year":***}`},
	} {
		for _, length := range []int64{int64(len(body)), -1} {
			r := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: length}
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			r, err := guardResponse(r, g, prometheus.NewCounter(prometheus.CounterOpts{Name: "test"}))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r.Body)
			if string(got) != tc.want {
				t.Errorf("%q, length %d: got %s, want %s", tc.ct, length, got, tc.want)
			}
		}
	}
}
