package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMultipartPartMetadataGuarded: a card number in a multipart part's
// filename (plain, or RFC 2231 filename*, which mime.ParseMediaType and so
// Go's FormFile decode) or in another part header reached the merchant on a
// matched route: the PAN guard read only the parts' names and contents.
func TestMultipartPartMetadataGuarded(t *testing.T) {
	g := startGateway(t, "")
	pct := func(s string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			fmt.Fprintf(&b, "%%%02X", c)
		}
		return b.String()
	}
	for _, tc := range []struct{ name, header string }{
		{"filename", `Content-Disposition: form-data; name="f"; filename="` + visaPAN + `.txt"`},
		{"filename*", `Content-Disposition: form-data; name="f"; filename*=UTF-8''` + pct(visaPAN) + `.txt`},
		{"part header", "Content-Disposition: form-data; name=\"f\"\r\nX-Card: 4111 1111 1111 1111"},
	} {
		for _, path := range []string{"/checkout", "/lenient"} {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				b := "--XX\r\n" + tc.header + "\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n"
				r := g.post(inboundURL+path, "multipart/form-data; boundary=XX", b)
				wantPANDetected(t, r, "")
				if strings.Contains(r.body, pct(visaPAN)) {
					t.Errorf("echoed: %s", r.body)
				}
			})
		}
	}
	// The preamble and the epilogue, which a merchant that logs raw
	// bodies keeps.
	for name, b := range map[string]string{
		"preamble": visaPAN + "\r\n--XX\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nhi\r\n--XX--\r\n",
		"epilogue": "--XX\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nhi\r\n--XX--\r\n" + visaPAN,
	} {
		wantPANDetected(t, g.post(inboundURL+"/checkout", "multipart/form-data; boundary=XX", b), "("+name+")")
	}
}

// TestUnicodeDigitsGuarded: a card number written in Unicode decimal digits
// (fullwidth, Arabic-Indic) passed every guard, though Python's int() and
// float(), Java's Long.parseLong and .NET's char.IsDigit-based parsers read
// it as the number.
func TestUnicodeDigitsGuarded(t *testing.T) {
	g := startGateway(t, "")
	spell := func(zero rune) string {
		var b strings.Builder
		for _, c := range visaPAN {
			b.WriteRune(zero + (c - '0'))
		}
		return b.String()
	}
	fullwidth, arabic := spell('０'), spell('٠')
	var esc strings.Builder
	for _, c := range fullwidth {
		fmt.Fprintf(&esc, `\u%04x`, c)
	}
	for _, path := range []string{"/checkout", "/nowhere"} {
		for name, pan := range map[string]string{"fullwidth": fullwidth, "arabic-indic": arabic} {
			t.Run(path+" "+name, func(t *testing.T) {
				wantPANDetected(t, g.post(inboundURL+path, jsonCT, `{"note":"`+pan+`"}`), "")
				wantPANDetected(t, g.post(inboundURL+path, formCT, "note="+url.QueryEscape(pan)), "")
				wantPANDetected(t, g.post(inboundURL+path+"?note="+url.QueryEscape(pan), jsonCT, `{}`), "")
				wantPANDetected(t, g.post(inboundURL+path, jsonCT, `{}`, "X-Note", pan), "")
			})
		}
		// Separators of other scripts a word processor or a PDF pastes,
		// and Python's digit-grouping underscore.
		for _, pan := range []string{"4111\u20071111\u20071111\u20071111", "4111\u20131111\u20131111\u20131111", "4111\u30001111\u30001111\u30001111", "4111_1111_1111_1111"} {
			t.Run(path+" "+url.QueryEscape(pan), func(t *testing.T) {
				wantPANDetected(t, g.post(inboundURL+path, jsonCT, `{"note":"`+pan+`"}`), "")
				wantPANDetected(t, g.post(inboundURL+path, formCT, "note="+url.QueryEscape(pan)), "")
			})
		}
		t.Run(path+" escaped", func(t *testing.T) {
			wantPANDetected(t, g.post(inboundURL+path, jsonCT, `{"note":"`+esc.String()+`"}`), "")
		})
	}
}

// TestBasicAuthGuarded: Basic credentials are base64, which every framework
// decodes for the merchant (Go's Request.BasicAuth); a card number as the
// user name passed.
func TestBasicAuthGuarded(t *testing.T) {
	g := startGateway(t, "")
	cred := base64.StdEncoding.EncodeToString([]byte(visaPAN + ":"))
	for _, path := range []string{"/checkout", "/nowhere"} {
		wantPANDetected(t, g.post(inboundURL+path, jsonCT, `{}`, "Authorization", "Basic "+cred), "header:Authorization")
	}
	if r := g.post(inboundURL+"/nowhere", jsonCT, `{}`, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("shop:s3cret"))); r.status != http.StatusOK {
		t.Errorf("ordinary credentials: %d %s", r.status, r.body)
	}
}

// rawRequest writes req as it is on a new connection to addr (which may
// name a test port) and returns the status line.
func rawRequest(t *testing.T, g *gateway, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr(addr), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// TestRequestLineHoldsNoCard: a card number as the request method, or as the
// userinfo of an absolute-form request target, was read by no guard: the
// request reached the merchant (the method) and Caddy's access log and
// reverse_proxy's debug log printed both as they arrived.
func TestRequestLineHoldsNoCard(t *testing.T) {
	accessLog := filepath.Join(t.TempDir(), "access.log")
	g := startGatewaySites(t, "", accessLogSites(accessLog))
	for _, tc := range []struct{ name, line string }{
		{"method, unmatched", visaPAN + " /nowhere HTTP/1.1"},
		{"method, checkout", visaPAN + " /checkout HTTP/1.1"},
		{"userinfo, unmatched", "POST http://" + visaPAN + "@localhost:9080/nowhere HTTP/1.1"},
		{"userinfo, checkout", "POST http://" + visaPAN + "@localhost:9080/checkout HTTP/1.1"},
		{"userinfo, outbound", "POST http://" + visaPAN + ":x@localhost:9081/payments HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "localhost:9080"
			extra := ""
			if strings.Contains(tc.line, "9081") {
				addr, extra = "localhost:9081", "X-Tokengate-Api-Key: "+apiKeyA+"\r\n"
			}
			status := rawRequest(t, g, addr, tc.line+"\r\nHost: "+addr+"\r\n"+extra+"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
			if !strings.Contains(status, " 400 ") {
				t.Errorf("status %q, want 400 pan_detected", status)
			}
		})
	}
	// The access log is written after the response: a clean request sent
	// after those, once logged, shows theirs would be by then.
	g.post(inboundURL+"/after-the-attacks", jsonCT, `{}`)
	access := waitForText(t, accessLog, "/after-the-attacks")
	for _, where := range []struct {
		name string
		text []byte
	}{{"Caddy's access log", access}, {"the log", []byte(g.log())}} {
		if bytes.Contains(where.text, []byte(visaPAN)) {
			t.Errorf("%s holds the card number", where.name)
		}
	}
}

// TestResponseGuardUTF16Cryptogram: a processor's echo in UTF-16 without a
// byte order mark (unlabelled, or labelled in a Content-Type whose
// parameters do not parse, so the charset check was skipped) reached the
// merchant with the cryptogram unmasked: the guard read the DPAN's digits
// across the NUL bytes, but matched the cryptogram only as contiguous text.
func TestResponseGuardUTF16Cryptogram(t *testing.T) {
	g := startGatewaySites(t, "", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	for _, mode := range []string{"utf16-all", "utf16-badlabel"} {
		t.Run(mode, func(t *testing.T) {
			out := g.post(outboundURL+"/guarded/payments?mode="+mode, jsonCT, `{"card":{"number":"`+tok+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
			dpan, _, crypt := p.last(t)
			if crypt == "" {
				t.Fatalf("no cryptogram was sent: %d %q", out.status, out.body)
			}
			text := strings.ReplaceAll(out.body, "\x00", "")
			if strings.Contains(text, crypt) || strings.Contains(text, dpan[6:len(dpan)-4]) {
				t.Errorf("%d: the cryptogram or the DPAN reached the merchant: %q", out.status, text)
			}
		})
	}
}

// TestResponseGuardFormEncodedSpaces: a processor answering form-encoded
// (as legacy gateways do) writes a spaced DPAN as 4895+3768+7116+4608;
// the merchant's parse_qs reads "4895 3768 7116 4608". The finder did not
// take '+' for a separator, so the DPAN reached the merchant whole.
func TestResponseGuardFormEncodedSpaces(t *testing.T) {
	g := startGatewaySites(t, "", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	out := g.post(outboundURL+"/guarded/payments?mode=spell&spell=plus", jsonCT, `{"card":{"number":"`+tok+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
	dpan, _, _ := p.last(t)
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, out.body)
	if out.status != http.StatusOK || strings.Contains(digits, dpan[6:len(dpan)-4]) {
		t.Errorf("%d: the DPAN reached the merchant: %q", out.status, out.body)
	}
}

// TestResponseGuardNoCVVOracleThroughAParser: the merchant's CVV candidates
// written as floats (1.23e2) are no whole numbers in its request, so the
// guard did not mask them; a processor that parses and echoes prints them
// as 123, and only the one equal to the CVV sent came back as ***.
func TestResponseGuardNoCVVOracleThroughAParser(t *testing.T) {
	g := startGatewaySites(t, "network off", guardSites)
	p := startProcessor(g)
	tok := checkout(t, g, visaPAN)
	var cand []string
	for v := 100; v < 1000; v++ {
		cand = append(cand, fmt.Sprintf("%d.%02de2", v/100, v%100))
	}
	out := g.post(outboundURL+"/guarded/payments?mode=reparse", jsonCT,
		`{"card":{"number":"`+tok+`"},"description":[`+strings.Join(cand, ",")+`]}`, "X-Tokengate-Api-Key", apiKeyA)
	if _, cvv, _ := p.last(t); out.status != http.StatusOK || cvv != testCVV {
		t.Fatalf("%d %s (the processor got CVV %q)", out.status, out.body, cvv)
	}
	// The candidates next to the CVV come back as the CVV's does.
	masked := func(v string) bool { return !strings.Contains(out.body, ","+v+",") }
	if masked("123") != masked("124") || masked("123") != masked("122") {
		t.Errorf("the echo tells the CVV apart from its neighbours: %s", out.body)
	}
}

// TestMultipartContentsDecoded: the guard's view of the merchant's request
// holds its multipart parts decoded, as a processor that parses them
// would echo them.
func TestMultipartContentsDecoded(t *testing.T) {
	body := "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=31=32=34\r\n" +
		"--XX\r\nContent-Disposition: form-data; name=\"b\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMTI1\r\n--XX--\r\n"
	got := multipartContents("multipart/form-data; boundary=XX", []byte(body))
	if len(got) != 2 || string(got[0]) != "124" || string(got[1]) != "125" {
		t.Errorf("got %q", got)
	}
}

// TestOutboundPANGuardReadsOtherBodies: a merchant's body that is neither
// JSON nor a form is not detokenized, but a card number in it would reach
// the processor and come back in its echo; the outbound PAN guard reads it
// too, and a clean one still goes through untouched.
func TestOutboundPANGuardReadsOtherBodies(t *testing.T) {
	g := startGateway(t, "")
	for _, tc := range []struct{ name, ct, body string }{
		{"text", "text/plain", "refund card 4111 1111 1111 1111 please"},
		{"xml", "application/xml", "<payment><pan>4111111111111111</pan></payment>"},
		{"no content type", "", "4111111111111111"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, outboundURL+"/payments", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			req.Header.Set("X-Tokengate-Api-Key", apiKeyA)
			wantPANDetected(t, g.do(req), "body")
		})
	}
	clean := "<payment><amount>1000</amount></payment>"
	r := g.post(outboundURL+"/payments", "application/xml", clean, "X-Tokengate-Api-Key", apiKeyA)
	if r.status != http.StatusOK || r.body != clean { // the test processor echoes what it received
		t.Fatalf("a clean XML body: %d %s", r.status, r.body)
	}
}
