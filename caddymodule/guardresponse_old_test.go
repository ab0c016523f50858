package caddymodule

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokengate/tokengate/responseguard"
)

// guardResponseOld is guardResponse before it read a small answer straight
// from its peek reader (NUL check and length limit in the read loop, no
// reader wrappers), kept whole for FuzzGuardResponseAgainstOld.
func guardResponseOld(resp *http.Response, g *responseguard.Guard, redactions prometheus.Counter) (*http.Response, error) {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		return nil, &refusal{upstream: "the destination", reason: "it switched protocols, and the response guard cannot inspect the stream"}
	}
	redactHeader(resp.Header, g, redactions)
	// Every Content-Type the response carries (a client may honour any),
	// and a charset named in one whose parameters do not parse.
	for _, ct := range resp.Header.Values("Content-Type") {
		if !readableCharset(charsetOf(ct)) {
			resp.Body.Close()
			return nil, &refusal{upstream: "the destination", reason: "its response is in a charset the response guard cannot read"}
		}
	}
	src := resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			src.Close()
			return nil, &refusal{upstream: "the destination", reason: "its gzip response does not decode"}
		}
		src = readCloser{zr, src}
		resp.Header.Del("Content-Encoding")
	default:
		src.Close()
		return nil, &refusal{upstream: "the destination", reason: "its response is in the " + strconv.Quote(enc) + " encoding, which the response guard cannot inspect"}
	}
	resp.Uncompressed = false
	// A byte order mark says UTF-16 or UTF-32 whatever the label says, and
	// so do NUL bytes without one: the card-number finder reads digits
	// across NULs, but a cryptogram or a CVV in UTF-16 is not found, so
	// such a body is refused (and a streamed one cut off at its first NUL).
	br := peekReaders.Get().(*bufio.Reader)
	br.Reset(src)
	if head, _ := br.Peek(512); hasWideBOM(head) || bytes.IndexByte(head, 0) >= 0 {
		src.Close()
		releasePeekReader(br)
		return nil, &refusal{upstream: "the destination", reason: "its response is UTF-16 or UTF-32 text (or binary), which the response guard cannot read"}
	}
	src = readCloser{noNUL{br}, src}
	if head, _ := br.Peek(512); jsonBody(resp.Header.Get("Content-Type"), head) {
		g = g.ForJSON()
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= bufferLimit {
		// The usual small answer: redact it whole and keep a length, so
		// that reverse_proxy sends it in one piece rather than flushing a
		// chunked stream read by read.
		// Read into a buffer of the announced length (and a byte to see
		// EOF), not io.ReadAll's growing copies; a body longer than
		// announced still grows it, as ReadAll would.
		bp := responseBuffers.Get().(*[]byte)
		b := *bp
		if int64(cap(b)) <= resp.ContentLength {
			b = make([]byte, 0, resp.ContentLength+1)
		}
		b, err := readAllInto(b[:0], io.LimitReader(src, bufferLimit+1))
		if err != nil {
			src.Close()
			releasePeekReader(br)
			clear(b)
			return nil, fmt.Errorf("tokengate: reading the destination's response: %w", err)
		}
		if len(b) <= bufferLimit {
			src.Close()
			releasePeekReader(br) // read to its end: nothing reads it again
			out, n := g.Bytes(b)
			redactions.Add(float64(n))
			if !sameArray(out, b) && cap(b) <= maxPooledResponse {
				// The answer is out, a copy: what the destination sent,
				// card data and all, is cleared, and its array reused.
				clear(b)
				*bp = b[:0]
				responseBuffers.Put(bp)
			}
			resp.Body = io.NopCloser(bytes.NewReader(out))
			resp.ContentLength = int64(len(out))
			resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
			return resp, nil
		}
		src = readCloser{io.MultiReader(bytes.NewReader(b), src), src} // decoded larger: stream it
	}
	resp.Body = countingReader{g.NewReader(src), redactions}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// readAllInto is io.ReadAll reading into b's array first.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // room for more
		}
	}
}

// FuzzGuardResponseAgainstOld: guardResponse gives what guardResponseOld
// gives (refusal or error, body, length, headers, redaction count) for
// fuzzed answers: JSON or not by type or first byte, with NULs, announced
// lengths right, wrong or absent, gzip (a small compressed answer may
// decode past bufferLimit and be streamed), and fuzzed secrets.
func FuzzGuardResponseAgainstOld(f *testing.F) {
	f.Add([]byte(`{"n":"4895370012003478","c":"q5n/AbC+dEf12345678901234A==","cvc":123}`), "4895370012003478", "q5n/AbC+dEf12345678901234A==", "123", uint8(0), uint8(0), false)
	f.Add([]byte("n=4111111111111111&x=\x00"), "4111111111111111", "AAAA", "999", uint8(1), uint8(1), true)
	f.Add([]byte(`[4111111111111111, "a\u0041"]`), "", "", "", uint8(2), uint8(2), false)
	f.Add([]byte("plain 5555 5555 5555 4444"), "5555555555554444", "", "4444", uint8(3), uint8(3), true)
	// A NUL past the peeked head: only the read loop sees it.
	f.Add(append(bytes.Repeat([]byte("a"), 600), 0, 'b'), "", "", "", uint8(1), uint8(0), false)
	f.Fuzz(func(t *testing.T, body []byte, pan, crypt, cvv string, ctSel, clSel uint8, zip bool) {
		// Without big: a megabyte per run stalls the fuzzer; the large
		// answers are TestGuardResponseLargeAgainstOld's.
		compareGuardResponse(t, body, pan, crypt, cvv, ctSel, clSel, zip, false)
	})
}

// TestGuardResponseLargeAgainstOld: answers past bufferLimit (streamed), and
// gzip answers announced small that decode past it (read whole, then
// streamed), with a NUL past the head or not, give what the old one gives.
func TestGuardResponseLargeAgainstOld(t *testing.T) {
	for _, body := range []string{`{"n":"4895370012003478","c":"q5n/AbC+dEf12345678901234A==","cvc":123}`, "x\x00y 4111111111111111"} {
		for ct := range uint8(3) {
			for _, cl := range []uint8{0, 1, 2 + 4*7, 3 + 4*9} {
				for _, zip := range []bool{false, true} {
					compareGuardResponse(t, []byte(body), "4895370012003478", "q5n/AbC+dEf12345678901234A==", "123", ct|4, cl, zip, true)
				}
			}
		}
	}
}

// compareGuardResponse fails t unless guardResponse and guardResponseOld
// give the same for this answer; big prefixes it with bufferLimit bytes.
func compareGuardResponse(t *testing.T, body []byte, pan, crypt, cvv string, ctSel, clSel uint8, zip, big bool) {
	t.Helper()
	if big {
		// Past bufferLimit: streamed, or (gzip) decoded larger.
		body = append(bytes.Repeat([]byte("ab, "), bufferLimit/4+1), body...)
	}
	secrets := []responseguard.Secret{{Value: pan, With: "tok_x"}, {Value: crypt, With: responseguard.Mask}, {Value: cvv, With: responseguard.Mask, Whole: true}}
	g := responseguard.NewGuard(responseguard.Options{Secrets: secrets, Request: [][]byte{body[:min(len(body), 200)]}, CVV: ctSel&4 != 0})
	types := []string{"application/json", "text/plain", "", "application/problem+json; charset=utf-8", "text/html; charset=utf-16"}
	make := func() *http.Response {
		raw := body
		h := http.Header{}
		if ct := types[int(ctSel)%len(types)]; ct != "" {
			h.Set("Content-Type", ct)
		}
		if zip {
			var z bytes.Buffer
			w := gzip.NewWriter(&z)
			w.Write(body)
			w.Close()
			raw = z.Bytes()
			h.Set("Content-Encoding", "gzip")
		}
		cl := int64(len(raw))
		switch clSel % 4 {
		case 1:
			cl = -1
		case 2:
			cl = max(cl-int64(clSel/4), 0)
		case 3:
			cl += int64(clSel / 4)
		}
		if cl >= 0 {
			h.Set("Content-Length", strconv.FormatInt(cl, 10))
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(raw)), ContentLength: cl}
	}
	type result struct {
		err    string
		body   []byte
		rerr   string
		length int64
		header http.Header
		count  float64
	}
	run := func(guard func(*http.Response, *responseguard.Guard, prometheus.Counter) (*http.Response, error)) result {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test"})
		r, err := guard(make(), g, c)
		if err != nil {
			return result{err: err.Error()}
		}
		out, rerr := io.ReadAll(r.Body)
		res := result{body: out, length: r.ContentLength, header: r.Header}
		if rerr != nil {
			res.rerr = rerr.Error()
		}
		r.Body.Close()
		res.count = testutil.ToFloat64(c)
		return res
	}
	if got, want := run(guardResponse), run(guardResponseOld); !reflect.DeepEqual(got, want) {
		t.Fatalf("guardResponse and guardResponseOld differ:\n new: err %q rerr %q len %d hdr %v count %v\n old: err %q rerr %q len %d hdr %v count %v",
			got.err, got.rerr, got.length, got.header, got.count, want.err, want.rerr, want.length, want.header, want.count)
	}
}
