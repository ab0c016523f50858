package caddymodule

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/card"
)

// processor is a payment processor that echoes what it received, in the
// body and in headers, on localhost:9082 (the guarded rule set's
// destination), and in the spelling or framing the request's "mode" query
// parameter asks for.
type processor struct {
	mu       sync.Mutex
	received []map[string]any
}

// last is what the processor received last: card.number, card.cvc,
// card.cryptogram.
func (p *processor) last(t *testing.T) (number, cvv, crypt string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.received) == 0 {
		t.Fatal("the processor received nothing")
	}
	c, _ := p.received[len(p.received)-1]["card"].(map[string]any)
	s := func(k string) string { v, _ := c[k].(string); return v }
	return s("number"), s("cvc"), s("cryptogram")
}

// startProcessor serves the processor on g's port 9082 (the guarded rule
// set's destination).
func startProcessor(g *gateway) *processor {
	g.t.Helper()
	p := &processor{}
	srv := &http.Server{Handler: p}
	go srv.Serve(g.listen("localhost:9082"))
	g.t.Cleanup(func() { srv.Close() })
	return p
}

func (p *processor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	p.mu.Lock()
	p.received = append(p.received, doc)
	p.mu.Unlock()
	c, _ := doc["card"].(map[string]any)
	s := func(k string) string { v, _ := c[k].(string); return v }
	number, cvv, crypt := s("number"), s("cvc"), s("cryptogram")
	h := w.Header()
	h.Set("Content-Type", "application/json")
	echo := func() {
		h.Set("X-Echo-Number", number)
		h.Set("X-Echo-Cvc", cvv)
		h.Set("X-Echo-Cryptogram", crypt)
		h.Set("X-Echo-Note", r.Header.Get("X-Note"))
	}
	switch mode := r.URL.Query().Get("mode"); mode {
	case "early":
		// 103 Early Hints carrying the number, then a clean answer.
		h.Set("X-Echo-Number", number)
		h.Set("Link", "</n/"+number+">; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("X-Echo-Number")
		h.Del("Link")
		io.WriteString(w, `{"ok":true}`)
	case "trailer":
		h.Set("Trailer", "X-Echo-Number, X-Echo-Cryptogram")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"ok":true}`)
		w.(http.Flusher).Flush()
		h.Set("X-Echo-Number", number)
		h.Set("X-Echo-Cryptogram", crypt)
	case "spell":
		io.WriteString(w, spell(r.URL.Query().Get("spell"), number, crypt))
	case "utf16", "utf16-labelled":
		if mode == "utf16-labelled" {
			h.Set("Content-Type", "application/json; charset=utf-16le")
		}
		io.WriteString(w, utf16le(`{"number":"`+number+`"}`))
	case "reparse":
		// A processor that parses the request and echoes it as its
		// parser read it (float64: 1.23e2 comes back 123).
		var v any
		json.Unmarshal(raw, &v)
		b, _ := json.Marshal(v)
		w.Write(b)
	case "utf16-all", "utf16-badlabel":
		// The whole echo in UTF-16LE, unlabelled or behind a Content-Type
		// whose parameters do not parse.
		if mode == "utf16-badlabel" {
			h.Set("Content-Type", "application/json; charset=utf-16le; x")
		}
		io.WriteString(w, utf16le(`{"number":"`+number+`","cvc":"`+cvv+`","cryptogram":"`+crypt+`"}`))
	default:
		echo()
		fmt.Fprintf(w, `{"echo":%s,"card":{"number":"%s","cvc":"%s","cryptogram":"%s"}}`, raw, number, cvv, crypt)
	}
}

func utf16le(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}

// spell writes the number or the cryptogram as issue 15 found them reach
// the merchant.
func spell(how, number, crypt string) string {
	bytes, _ := base64.StdEncoding.DecodeString(crypt)
	grouped := func(sep string) string {
		var b strings.Builder
		for i := 0; i < len(number); i += 4 {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(number[i:min(i+4, len(number))])
		}
		return b.String()
	}
	switch how {
	case "u002B":
		return `{"c":"` + strings.ReplaceAll(strings.ReplaceAll(crypt, "+", `\u002B`), "/", `\/`) + `"}`
	case "hex":
		return `{"c":"` + hex.EncodeToString(bytes) + `","C":"` + strings.ToUpper(hex.EncodeToString(bytes)) + `"}`
	case "unpadded":
		return `{"c":"` + base64.RawStdEncoding.EncodeToString(bytes) + `"}`
	case "base64url":
		return `{"c":"` + base64.URLEncoding.EncodeToString(bytes) + `","d":"` + base64.RawURLEncoding.EncodeToString(bytes) + `"}`
	case "dots":
		return `{"n":"` + grouped(".") + `"}`
	case "newlines":
		return `{"n":"` + grouped("\n") + `"}`
	case "suffix":
		return `{"n":"` + grouped(" ") + ` 03"}`
	case "float":
		return `{"n":` + number[:1] + "." + number[1:] + `e15}`
	case "u0034":
		var b strings.Builder
		for i := 0; i < len(number); i++ {
			fmt.Fprintf(&b, `\u%04x`, number[i])
		}
		return `{"n":"` + b.String() + `"}`
	case "plus":
		// A form-encoded answer writes a space as '+'.
		return "card_number=" + grouped("+") + "&status=ok"
	case "entities":
		var b strings.Builder
		for i := 0; i < len(number); i++ {
			fmt.Fprintf(&b, "&#%d;", number[i])
		}
		return "<p>" + b.String() + "</p>"
	}
	return "unknown spelling"
}

// guardSites are the inbound and outbound gateways of the default sites,
// with the processor (startProcessor) in place of the demo PSP.
const guardSites = `
:9080 {
	tokenize
	respond "{http.request.body}"
}
:9081 {
	detokenize
	reverse_proxy localhost:9082 {
		transport tokengate
	}
}
`

// checkout tokenizes pan on the inbound gateway and returns the merchant's
// token.
func checkout(t *testing.T, g *gateway, pan string) string {
	t.Helper()
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(pan))
	if in.status != http.StatusOK {
		t.Fatalf("checkout: %d %s", in.status, in.body)
	}
	return str(decode(t, in.body), "card.number")
}

// luhnCandidates are Luhn-valid numbers with pan's first six and last four
// digits, pan's own among them: what a merchant that knows only those
// would try.
func luhnCandidates(pan string, n int, include ...string) []string {
	out := append([]string(nil), include...)
	mid := len(pan) - 10
	for m := 0; len(out) < n+len(include); m += 7 {
		middle := fmt.Sprintf("%0*d", mid, m)
		head := pan[:6] + middle + pan[len(pan)-4:len(pan)-1]
		if c := head + string(card.LuhnDigit(head[:len(head)])); c[len(c)-4:] == pan[len(pan)-4:] {
			if _, err := card.Validate(c); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestResponseGuardNoOracle is property A of issue 15 through a real
// Caddy: the same merchant request, carrying candidate values for every
// secret, for two cards whose secrets differ but whose first six and last
// four digits are equal, gives the merchant the same response.
func TestResponseGuardNoOracle(t *testing.T) {
	for _, path := range []struct{ name, global string }{
		{"PAN fallback with CVV", "network off"},
		{"network token", ""},
	} {
		t.Run(path.name, func(t *testing.T) {
			g := startGatewaySites(t, path.global, guardSites)
			p := startProcessor(g)
			const pan1 = "4111111111111111"
			pan2 := luhnCandidates(pan1, 1)[0]
			if pan2 == pan1 {
				pan2 = luhnCandidates(pan1, 2)[1]
			}
			tok1, tok2 := checkout(t, g, pan1), checkout(t, g, pan2)
			// What the processor gets for each card: the numbers sent
			// (PAN or DPAN) are among the merchant's candidates, as a
			// merchant with network-token:read knows BIN8 and last4.
			sent := func(tok string) (string, string) {
				out := g.post(outboundURL+"/guarded/payments", jsonCT, `{"card":{"number":"`+tok+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
				if out.status != http.StatusOK {
					t.Fatalf("%d %s", out.status, out.body)
				}
				n, _, c := p.last(t)
				return n, c
			}
			num1, crypt1 := sent(tok1)
			num2, _ := sent(tok2)
			if path.global == "" && (num1 == pan1 || crypt1 == "") {
				t.Fatal("the network token path sent no network token")
			}
			// Keep the CVV for the payment: checkout again (a CVV is taken once).
			tok1, tok2 = checkout(t, g, pan1), checkout(t, g, pan2)

			var cand []any
			for _, c := range luhnCandidates(num1, 300, num1, num2) {
				cand = append(cand, c, json.Number(c))
			}
			for _, c := range luhnCandidates(num2, 300) {
				cand = append(cand, c)
			}
			for v := 0; v < 1000; v++ {
				cand = append(cand, fmt.Sprintf("%03d", v), json.Number(fmt.Sprint(v)))
			}
			for i := 0; i < 50; i++ {
				b := make([]byte, 20)
				rand.Read(b)
				cand = append(cand, base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
			}
			cand = append(cand, crypt1) // a used cryptogram, in case one leaked
			candidates, _ := json.Marshal(cand)
			var note strings.Builder // CVV candidates in a header the processor echoes
			for v := 0; v < 1000; v++ {
				fmt.Fprintf(&note, "%03d ", v)
			}
			request := func(tok string) string {
				return `{"order":"o-1","card":{"number":"` + tok + `"},"description":` + string(candidates) + `}`
			}
			respond := func(tok string) string {
				out := g.post(outboundURL+"/guarded/payments", jsonCT, request(tok), "X-Tokengate-Api-Key", apiKeyA, "X-Note", note.String())
				if out.status != http.StatusOK {
					t.Fatalf("%d %s", out.status, out.body)
				}
				if _, cvv, _ := p.last(t); path.global == "network off" && cvv != testCVV {
					t.Fatalf("the processor got no CVV: the fallback path is not exercised")
				}
				var names []string
				for k := range out.header {
					if k != "Date" {
						names = append(names, k)
					}
				}
				sort.Strings(names)
				var b strings.Builder
				for _, k := range names {
					fmt.Fprintf(&b, "%s: %s\n", k, out.header[k])
				}
				b.WriteString(out.body)
				// What legitimately differs: the tokens, and a masked
				// number's middle (BIN and last four are allowed, and a
				// DPAN's are its own).
				s := strings.NewReplacer(tok1, "TOKEN", tok2, "TOKEN").Replace(b.String())
				return maskedNumber.ReplaceAllString(s, "MASKED")
			}
			r1, r2 := respond(tok1), respond(tok2)
			if r1 != r2 {
				i := 0
				for i < len(r1) && i < len(r2) && r1[i] == r2[i] {
					i++
				}
				t.Errorf("the responses differ at byte %d:\n%q\n%q", i, r1[max(0, i-80):min(len(r1), i+80)], r2[max(0, i-80):min(len(r2), i+80)])
			}
			for _, secret := range []string{num1, num2, pan1, pan2} {
				if strings.Contains(r1, secret) || strings.Contains(r2, secret) {
					t.Errorf("a card number came back unmasked")
				}
			}
		})
	}
}

// masked is a card number as the response guard masks it.
func masked(n string) string {
	if len(n) < 13 {
		return "(not a card number)"
	}
	return n[:6] + strings.Repeat("*", len(n)-10) + n[len(n)-4:]
}

var maskedNumber = regexp.MustCompile(`[0-9]{6}\*{3,9}[0-9]{4}`)

// TestResponseGuard1xx: a 103 Early Hints response's headers are guarded
// like the final response's (issue 15 item 2).
func TestResponseGuard1xx(t *testing.T) {
	g := startGatewaySites(t, "", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	req, _ := http.NewRequest(http.MethodPost, outboundURL+"/guarded/payments?mode=early", strings.NewReader(`{"card":{"number":"`+tok+`"}}`))
	req.Header.Set("Content-Type", jsonCT)
	req.Header.Set("X-Tokengate-Api-Key", apiKeyA)
	var early []textproto.MIMEHeader
	var mu sync.Mutex
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			early = append(early, h)
			return nil
		},
	}))
	out := g.do(req)
	dpan, _, _ := p.last(t)
	if out.status != http.StatusOK || len(dpan) < 13 {
		t.Fatalf("%d %s", out.status, out.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) == 0 {
		t.Fatal("the 103 did not reach the merchant: the test proves nothing")
	}
	want := masked(dpan)
	for _, h := range early {
		if got := h.Get("X-Echo-Number"); got != want || strings.Contains(fmt.Sprint(h), dpan) {
			t.Errorf("103 header X-Echo-Number: %q, want %q", got, want)
		}
	}
}

// TestResponseGuardTrailers: a detokenized response's trailers are dropped
// (issue 15 item 3).
func TestResponseGuardTrailers(t *testing.T) {
	g := startGatewaySites(t, "network off", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	// Read the response raw, trailers included.
	conn, err := net.Dial("tcp", g.addr("localhost:9081"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"card":{"number":"` + tok + `"}}`
	fmt.Fprintf(conn, "POST /guarded/payments?mode=trailer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Tokengate-Api-Key: %s\r\nTE: trailers\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", apiKeyA, len(body), body)
	raw, _ := io.ReadAll(bufio.NewReader(conn))
	number, _, _ := p.last(t)
	if number != visaPAN {
		t.Fatalf("the processor got %d digits, not the PAN", len(number))
	}
	if !strings.Contains(string(raw), `{"ok":true}`) {
		t.Fatalf("no answer: %q", raw)
	}
	for _, leak := range []string{visaPAN, "X-Echo-Number", "X-Echo-Cryptogram", "Trailer:"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the merchant got %q in:\n%s", leak, strings.ReplaceAll(string(raw), visaPAN, "[PAN]"))
		}
	}
	if strings.Contains(g.log(), visaPAN) {
		t.Error("the PAN is in Caddy's log")
	}
}

// TestResponseGuardSpellings: the echo spellings of issue 15 item 4 reach
// the merchant masked, and a UTF-16 body labelled as such is refused.
func TestResponseGuardSpellings(t *testing.T) {
	g := startGatewaySites(t, "", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	pay := func(query string) reply {
		return g.post(outboundURL+"/guarded/payments?"+query, jsonCT, `{"card":{"number":"`+tok+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
	}
	for _, how := range []string{"u002B", "hex", "unpadded", "base64url", "dots", "newlines", "suffix", "float", "u0034", "entities"} {
		t.Run(how, func(t *testing.T) {
			out := pay("mode=spell&spell=" + how)
			dpan, _, crypt := p.last(t)
			if out.status != http.StatusOK || crypt == "" {
				t.Fatalf("%d %s", out.status, out.body)
			}
			b, _ := base64.StdEncoding.DecodeString(crypt)
			digits := ""
			for _, c := range out.body {
				if c >= '0' && c <= '9' {
					digits += string(c)
				}
			}
			for _, leak := range []string{dpan[6 : len(dpan)-4], crypt, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
				base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
				if strings.Contains(out.body, leak) || leak == dpan[6:len(dpan)-4] && strings.Contains(digits, leak) {
					t.Errorf("%s leaked: %q", how, out.body)
				}
			}
		})
	}
	t.Run("utf-16 unlabelled", func(t *testing.T) {
		// Refused: the guard finds digits across NULs, but not a
		// cryptogram or a CVV (TestResponseGuardUTF16Cryptogram).
		out := pay("mode=utf16")
		dpan, _, _ := p.last(t)
		if out.status != http.StatusBadGateway || strings.Contains(strings.ReplaceAll(out.body, "\x00", ""), dpan[6:len(dpan)-4]) {
			t.Errorf("%d %q", out.status, out.body)
		}
	})
	t.Run("utf-16 labelled", func(t *testing.T) {
		if out := pay("mode=utf16-labelled"); out.status != http.StatusBadGateway {
			t.Errorf("%d %q, want 502", out.status, out.body)
		}
	})
}
