package caddymodule

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/rules"
)

// The response guard, as the transport applies it to what a destination
// answers a detokenized request (see delivery.send): what it is told of the
// request, and how a response's headers, 1xx headers, encoding, charset and
// body reach the guard (package responseguard) or are refused. The request's own
// PAN guard is elsewhere (tokenize_panguard.go, detokenize_panguard.go).

// newResponseGuard is the response guard of one request (guardOptions).
func newResponseGuard(set *rules.Outbound, secrets []responseguard.Secret, merchantBody, sentBody []byte, r *http.Request) *responseguard.Guard {
	sc := guardScratches.Get().(*guardScratch)
	g := responseguard.NewGuard(guardOptions(sc, set, secrets, merchantBody, sentBody, r))
	// NewGuard keeps nothing of Options.Request; the copies hold the
	// sent body's decoded bytes (a DPAN, a cryptogram): cleared.
	clear(sc.buf)
	clear(sc.req)
	sc.buf, sc.req = sc.buf[:0], sc.req[:0]
	guardScratches.Put(sc)
	return g
}

// guardScratch holds guardOptions' copies of what the merchant's request
// carried (its bodies and query decoded, its header values), in one array
// reused from request to request, until NewGuard has read them.
type guardScratch struct {
	buf  []byte
	req  [][]byte
	ends []int
}

var guardScratches = sync.Pool{New: func() any { return new(guardScratch) }}

// guardOptions is what the response guard needs for one request: the
// secrets sent, what the merchant's own request carried (so that a value it
// chose is masked like a secret of its class whether or not it equals one),
// and whether, and under which names, the rule set sends a CVV.
// The request's query and header values count too: a processor may echo
// them.
//
// sentBody is the body as it leaves: its whole numbers and cryptogram-like
// tokens count as the merchant's too. Without it a value tokengate wrote
// (the expiry year from the vault, a preset's card type code) would be
// masked in an echo only when it equals the CVV, and the mask would tell
// the merchant so.
//
// The Options' Request slices point into sc, valid until sc is reused.
func guardOptions(sc *guardScratch, set *rules.Outbound, secrets []responseguard.Secret, merchantBody, sentBody []byte, r *http.Request) responseguard.Options {
	// Of the body sent, only what differs from the merchant's is read
	// again (changedStretch); it is decoded whole below, all the same.
	req := append(sc.req[:0], merchantBody, changedStretch(merchantBody, sentBody), []byte(r.URL.RawQuery))
	// The copies are appended to one array, and sliced once it no longer
	// moves.
	buf, ends := sc.buf[:0], sc.ends[:0]
	// Form bodies and queries are read decoded too, as the merchant's
	// server reads them: what url.QueryUnescape makes of them, where that
	// differs (unescapedChanges).
	// The body sent is the merchant's outside changedStretch, and so are
	// its decoded stretches (a stretch ends where a changed one does):
	// unless the merchant's body has none at all (a malformed escape),
	// only the changed part's are added.
	merchantChanges, merchantWellFormed := queryEscapes(merchantBody)
	if merchantChanges && merchantWellFormed {
		buf, ends = escapedStretches(buf, ends, merchantBody)
	}
	if merchantWellFormed {
		// Only the changed stretch is read, not the whole body sent: an
		// escape's bytes ('%', hex digits) are no stretchEnd, so each
		// lies wholly inside the stretch or wholly outside it, where the
		// body sent is the merchant's, well formed. The body sent is well
		// formed when the stretch is; a stretch without '+' or '%' adds
		// nothing.
		if _, wellFormed := queryEscapes(req[1]); wellFormed {
			buf, ends = escapedStretches(buf, ends, req[1])
		}
	} else if queryEscaped(sentBody) {
		buf, ends = escapedStretches(buf, ends, sentBody)
	}
	buf, ends = unescapedChanges(buf, ends, req[2])
	for _, values := range r.Header {
		for _, v := range values {
			buf = append(buf, v...)
			ends = append(ends, len(buf))
		}
	}
	from := 0
	for _, end := range ends {
		req = append(req, buf[from:end:end])
		from = end
	}
	sc.buf, sc.req, sc.ends = buf, req, ends
	// Capped at its length: what is appended next (a multipart body's
	// decoded parts) must not land in the pooled array's spare room, which
	// is cleared only up to its length.
	o := responseguard.Options{Secrets: secrets, Request: req[:len(req):len(req)]}
	// A multipart part in quoted-printable or base64 reaches a processor
	// that parses it decoded, and may come back so.
	o.Request = append(o.Request, multipartContents(r.Header.Get("Content-Type"), merchantBody)...)
	for _, f := range set.FieldsOf(rules.KindCVV) {
		o.CVV = true
		if i := strings.LastIndexByte(f.JSON, '.'); f.JSON != "" {
			o.CVVNames = append(o.CVVNames, f.JSON[i+1:])
		}
		if f.Form != "" {
			o.CVVNames = append(o.CVVNames, f.Form)
		}
	}
	return o
}

// unescapedChanges appends to dst the stretches of what url.QueryUnescape
// makes of s that differ from s itself (around each '+' and %XX escape),
// and the end of each to ends; nothing when QueryUnescape fails or changes
// nothing. A stretch runs between two separators (stretchEnd) that
// unescaping leaves alone: the guard's every scan of the merchant's
// request (for cryptogram-like tokens, whole and float numbers, and the
// escapes it decodes first) stops at them, so what it finds in the rest
// of the decoded text it finds in s, which it reads too. The decoded copy
// of a JSON body with one "+33 6 ..." phone number is then that number's
// few bytes, not the whole body read twice.
func unescapedChanges(dst []byte, ends []int, s []byte) ([]byte, []int) {
	if !queryEscaped(s) {
		return dst, ends
	}
	return escapedStretches(dst, ends, s)
}

// escapedStretches is unescapedChanges for an s that queryEscaped
// accepts, or a stretch (changedStretch) of one.
func escapedStretches(dst []byte, ends []int, s []byte) ([]byte, []int) {
	// The next '%' and '+' at or after at, each found by IndexByte (a
	// vector scan, where IndexAny reads byte by byte) and again only once
	// passed.
	pct, plus := -1, -1
	next := func(c byte, at, was int) int {
		if was >= at {
			return was
		}
		if k := bytes.IndexByte(s[at:], c); k >= 0 {
			return at + k
		}
		return len(s)
	}
	for at := 0; at < len(s); {
		pct, plus = next('%', at, pct), next('+', at, plus)
		k := min(pct, plus)
		if k == len(s) {
			break
		}
		start, end := k, k
		for start > at && !stretchEnd(s[start-1]) {
			start--
		}
		for end < len(s) && !stretchEnd(s[end]) {
			end++
		}
		dst, _ = queryUnescape(dst, s[start:end])
		ends = append(ends, len(dst))
		at = end
	}
	return dst, ends
}

// changedStretch is the part of sent that differs from merchant, widened
// on both sides to a separator (stretchEnd): before and after it sent is
// merchant's own bytes, in which the guard finds what it finds in
// merchant, which it reads whole. Detokenization edits a few fields of a
// body and keeps the rest byte for byte, so the body sent is not read a
// second time over.
func changedStretch(merchant, sent []byte) []byte {
	n := min(len(merchant), len(sent))
	p := 0
	for p < n && merchant[p] == sent[p] {
		p++
	}
	q := 0
	for q < n-p && merchant[len(merchant)-1-q] == sent[len(sent)-1-q] {
		q++
	}
	start, end := p, len(sent)-q
	for start > 0 && !stretchEnd(sent[start-1]) {
		start--
	}
	for end < len(sent) && !stretchEnd(sent[end]) {
		end++
	}
	return sent[start:end] // start <= p <= end: p+q is at most len(sent)
}

// stretchEnd reports whether c separates what the response guard finds in
// a request: JSON's punctuation and white space, which no token, number or
// escape it reads holds, and which QueryUnescape keeps as it is.
func stretchEnd(c byte) bool {
	switch c {
	case '"', ',', ':', '{', '}', '[', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// queryEscaped reports whether url.QueryUnescape changes s without an
// error: s holds a '+' or a %XX escape, and no malformed escape.
func queryEscaped(s []byte) bool {
	changes, wellFormed := queryEscapes(s)
	return changes && wellFormed
}

// queryEscapes reports whether s holds a '+' or a %XX escape, and whether
// it holds no malformed escape.
func queryEscapes(s []byte) (changes, wellFormed bool) {
	// Each '%' found by IndexByte, a vector scan: an escape's two hex
	// digits are neither '%' nor '+', so nothing is skipped.
	changes = bytes.IndexByte(s, '+') >= 0
	for i := 0; ; i += 3 {
		k := bytes.IndexByte(s[i:], '%')
		if k < 0 {
			return changes, true
		}
		if i += k; i+2 >= len(s) || !body.IsHex(s[i+1]) || !body.IsHex(s[i+2]) {
			return changes, false
		}
		changes = true
	}
}

// queryUnescape appends to dst what url.QueryUnescape makes of s and
// reports true, when that differs from s: s holds a '+' or a %XX escape,
// and no malformed escape (an error: nothing is appended). It reads the
// bytes as they are, without QueryUnescape's string copies of whole bodies.
func queryUnescape(dst, s []byte) ([]byte, bool) {
	if !queryEscaped(s) {
		return dst, false
	}
	return body.AppendFormUnescape(dst, s), true
}

// multipartContents are the decoded contents of a multipart body's parts
// in quoted-printable (mime/multipart decodes it) or base64; nil for any
// other body.
func multipartContents(contentType string, raw []byte) [][]byte {
	if !mayBeMultipart(contentType) {
		return nil // without ParseMediaType's map and copies
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil
	}
	var out [][]byte
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return out
		}
		cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")))
		b, _ := io.ReadAll(io.LimitReader(p, int64(len(raw))))
		if cte == "base64" {
			if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err == nil {
				b = d
			}
		}
		out = append(out, b)
	}
}

// mayBeMultipart is false for a Content-Type whose media type is surely
// not multipart/... as mime.ParseMediaType reads it (trimmed, lower-cased):
// ASCII that does not start, past spaces, with "multipart/" in any case.
// Anything else (non-ASCII, which lower-casing may turn into ASCII) is
// left to ParseMediaType.
func mayBeMultipart(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if ct[i] >= utf8.RuneSelf {
			return true
		}
	}
	ct = strings.TrimLeft(ct, " \t\n\v\f\r")
	return len(ct) >= len("multipart/") && strings.EqualFold(ct[:len("multipart/")], "multipart/")
}

// guard1xx redacts the headers of informational (1xx) responses, such as
// 103 Early Hints, which reverse_proxy relays to the client from its own
// httptrace hook before the final response exists. The hook composed here
// runs first (httptrace calls the newer trace's hook first) and edits the
// header map in place, so reverse_proxy's hook relays the redacted one.
func guard1xx(ctx context.Context, g *responseguard.Guard, redactions prometheus.Counter) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(_ int, header textproto.MIMEHeader) error {
			redactHeader(http.Header(header), g, redactions)
			return nil
		},
	})
}

// redactHeader redacts every value of h in place, and drops a header whose
// name holds a card number.
func redactHeader(h http.Header, g *responseguard.Guard, redactions prometheus.Counter) {
	for name, values := range h {
		if _, n := g.String(name); n > 0 {
			delete(h, name)
			redactions.Add(float64(n))
			continue
		}
		for i, v := range values {
			var n int
			values[i], n = g.String(v)
			redactions.Add(float64(n))
		}
	}
}

// readableCharset reports whether a body in charset (a Content-Type
// parameter, "" when absent) is one the guard reads: ASCII-compatible
// single-byte or UTF-8 text, in which digits are the ASCII digits.
func readableCharset(charset string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"`)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso_8859-1", "windows-1252":
		return true
	}
	return false
}

// hasWideBOM reports whether b starts with a UTF-16 or UTF-32 byte order
// mark: text in which a digit is not one byte.
func hasWideBOM(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) ||
		bytes.HasPrefix(b, []byte{0, 0, 0xFE, 0xFF})
}

// guardResponse redacts the response's headers and streams its body through
// the guard. A gzip body is decoded on the way; a body in any other encoding,
// or a protocol switch, cannot be inspected and is refused (the client gets
// 502), so nothing the guard could not read reaches the merchant.
func guardResponse(resp *http.Response, g *responseguard.Guard, redactions prometheus.Counter) (*http.Response, error) {
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
	// Whether the answer is JSON; ForJSON is applied in each branch, not
	// here, so that a small answer's JSON guard is not allocated (it stays
	// on the stack; a stream's Reader keeps its own).
	head, _ := br.Peek(512)
	isJSON := jsonBody(resp.Header.Get("Content-Type"), head)
	if resp.ContentLength >= 0 && resp.ContentLength <= bufferLimit {
		// The usual small answer: redact it whole and keep a length, so
		// that reverse_proxy sends it in one piece rather than flushing a
		// chunked stream read by read.
		// Read into a buffer of the announced length (and a byte to see
		// EOF), not io.ReadAll's growing copies; a body longer than
		// announced still grows it, as ReadAll would. It is read from br
		// itself: readSmall refuses a NUL and stops past bufferLimit as
		// the stream's noNUL and a LimitReader would, without their
		// allocations.
		bp := responseBuffers.Get().(*[]byte)
		b := *bp
		if int64(cap(b)) <= resp.ContentLength {
			b = make([]byte, 0, resp.ContentLength+1)
		}
		b, err := readSmall(b[:0], br, bufferLimit+1)
		if err != nil {
			src.Close()
			releasePeekReader(br)
			clear(b)
			return nil, fmt.Errorf("tokengate: reading the destination's response: %w", err)
		}
		if len(b) <= bufferLimit {
			src.Close()
			releasePeekReader(br) // read to its end: nothing reads it again
			// The redacted copy is written into a pooled array too,
			// which the body gives back once it is closed.
			op := responseBuffers.Get().(*[]byte)
			if o := *op; cap(o) < answerRoom(len(b)) {
				*op = make([]byte, 0, answerRoom(len(b)))
			}
			var out []byte
			var n int
			if isJSON {
				out, n = g.ForJSON().BytesInto(*op, b)
			} else {
				out, n = g.BytesInto(*op, b)
			}
			redactions.Add(float64(n))
			body := new(answerBody)
			// Whichever array is not the body (b's, when the answer is
			// out, a copy; the pooled one, which BytesInto then leaves
			// zero, when the answer is b) goes back to the pool now.
			// What the destination sent, card data and all, is cleared.
			switch {
			case sameArray(out, b):
				body.keep(bp, b)
				putResponseBuffer(op, (*op)[:0])
			case sameArray(out, *op):
				body.keep(op, out)
				putResponseBuffer(bp, b)
			default: // outgrown: BytesInto left *op zero
				body.keep(nil, out)
				putResponseBuffer(op, (*op)[:0])
				putResponseBuffer(bp, b)
			}
			resp.Body = body
			resp.ContentLength = int64(len(out))
			setHeader(resp.Header, "Content-Length", strconv.Itoa(len(out)))
			return resp, nil
		}
		// Decoded larger: stream it.
		src = readCloser{io.MultiReader(bytes.NewReader(b), noNUL{br}), src}
	} else {
		src = readCloser{noNUL{br}, src}
	}
	if isJSON {
		g = g.ForJSON()
	}
	resp.Body = countingReader{g.NewReader(src), redactions}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// peekReaders are the readers guardResponse peeks at an answer's first
// bytes with, reused once it has read the whole answer
// (releasePeekReader); one that streams an answer is left to the
// collector.
var peekReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// releasePeekReader clears br's buffer, which held the answer's bytes
// (card data and all), by filling it with zeros, and pools it.
func releasePeekReader(br *bufio.Reader) {
	br.Reset(zeros{})
	br.Peek(br.Size())
	br.Reset(nil)
	peekReaders.Put(br)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// responseBuffers are the arrays small responses are read into (guardResponse),
// reused once redacted; larger than maxPooledResponse, left to the collector.
var responseBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledResponse = 64 << 10

// sameArray reports whether a and b start at the same byte.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

// readSmall is io.ReadAll of io.LimitReader(noNUL{r}, limit) reading into
// b's array first: it fails with errNUL if what it reads of r within limit
// holds a NUL byte.
func readSmall(b []byte, r *bufio.Reader, limit int) ([]byte, error) {
	for {
		p := b[len(b):min(cap(b), limit)]
		if len(p) == 0 {
			if len(b) >= limit {
				return b, nil
			}
			// Room for more: the array left behind held the answer,
			// card data and all, and is cleared.
			grown := append(b, 0)[:len(b)]
			if !sameArray(grown, b) {
				clear(b)
			}
			b = grown
			continue
		}
		n, err := r.Read(p)
		if bytes.IndexByte(p[:n], 0) >= 0 {
			// As noNUL: the read's bytes are not kept, and are cleared
			// (the caller clears only what is returned).
			clear(p[:n])
			return b, errNUL
		}
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// answerRoom is the room a redacted copy of an n-byte answer is given:
// redacting shortens an answer, but for the quotes around a masked bare
// value of a JSON answer (two per card number of 12 or more digits, or
// per value longer than 64 bytes).
func answerRoom(n int) int { return n + n/4 + 16 }

// putResponseBuffer clears b, all that was written in its array, and
// pools the array in p, unless it is larger than maxPooledResponse.
func putResponseBuffer(p *[]byte, b []byte) {
	clear(b)
	if cap(b) <= maxPooledResponse {
		*p = b[:0]
		responseBuffers.Put(p)
	}
}

// answerBody is a small answer's redacted body: one allocation where
// io.NopCloser(bytes.NewReader(out)) made two. Its array, when pooled, is
// cleared and given back when it is closed (once); a read after that
// finds the end, and a read or close at the same time waits for the
// other, so no read sees another answer's bytes.
type answerBody struct {
	mu   sync.Mutex
	r    bytes.Reader
	pool *[]byte // the pooled array holding the body, nil when not pooled
	buf  []byte  // the body, cleared on Close
}

// keep makes b, held in the pooled array *p (p nil when not pooled), the
// body.
func (a *answerBody) keep(p *[]byte, b []byte) {
	a.pool, a.buf = p, b
	a.r.Reset(b)
}

func (a *answerBody) Read(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.r.Read(p)
}

// WriteTo lets io.Copy write the body out without a buffer of its own.
func (a *answerBody) WriteTo(w io.Writer) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.r.WriteTo(w)
}

func (a *answerBody) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.r.Reset(nil)
	if a.pool != nil {
		putResponseBuffer(a.pool, a.buf)
	}
	a.pool, a.buf = nil, nil
	return nil
}

// setHeader is h.Set(key, v) for a canonical key, writing into the value
// slice the response came with when it holds one value, rather than
// allocating a new one.
func setHeader(h http.Header, key, v string) {
	if vs := h[key]; len(vs) == 1 {
		vs[0] = v
		return
	}
	h.Set(key, v)
}

// jsonBody reports whether a response is JSON, by its Content-Type
// (application/json, text/json, any +json type) or, with none, by its first
// byte: the guard then keeps a valid document valid (responseguard.ForJSON).
func jsonBody(contentType string, head []byte) bool {
	if contentType == "application/json" {
		return true // the usual answer, without ParseMediaType's copies
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		return true
	case strings.TrimSpace(contentType) == "":
		head = bytes.TrimLeft(head, " \t\r\n")
		return len(head) > 0 && (head[0] == '{' || head[0] == '[')
	}
	return false
}

// charsetOf is the charset parameter of a Content-Type, "" when there is
// none; found by hand when the parameters do not parse, since a client may
// still honour it.
func charsetOf(ct string) string {
	if strings.IndexByte(ct, ';') < 0 && strings.IndexByte(ct, '=') < 0 {
		// No parameters, and no "charset=" to find by hand: "", as below,
		// without ParseMediaType's copies.
		return ""
	}
	_, params, err := mime.ParseMediaType(ct)
	if err == nil || params != nil {
		return params["charset"]
	}
	i := strings.Index(strings.ToLower(ct), "charset=")
	if i < 0 {
		return ""
	}
	return strings.Trim(strings.TrimSpace(strings.SplitN(ct[i+len("charset="):], ";", 2)[0]), `"'`)
}

// errNUL ends a response body that holds a NUL byte past its first bytes.
var errNUL = errors.New("tokengate: the destination's response holds a NUL byte (UTF-16 or binary), which the response guard cannot read; cut off")

// noNUL fails a read that returns a NUL byte, so that neither the whole
// body nor the stream passes one to the guard.
type noNUL struct{ r io.Reader }

func (n noNUL) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if i := bytes.IndexByte(p[:k], 0); i >= 0 {
		return 0, errNUL
	}
	return k, err
}

// bufferLimit is the largest response the guard redacts whole; larger ones,
// and those of unknown length, are streamed.
const bufferLimit = 1 << 20

// countingReader counts a streamed answer's redactions when it is closed.
type countingReader struct {
	*responseguard.Reader
	redactions prometheus.Counter
}

func (c countingReader) Close() error {
	c.redactions.Add(float64(c.Count()))
	return c.Reader.Close()
}

// readCloser reads one stream and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
