package caddymodule

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTP2AndH2C runs both handlers and the response guard over HTTP/2:
// over TLS (as Caddy serves it on an https site) and in cleartext (h2c),
// from the client to Caddy and from the tokengate transport to the
// processor. The card data must be handled the same whatever the protocol:
// HTTP/2 frames headers and bodies differently, and a handler that read
// only HTTP/1's Content-Length or Transfer-Encoding would miss a body.
func TestHTTP2AndH2C(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	dir := g.dir
	rulesPath := g.writeFile("rules.yaml", `
inbound:
  checkout:
    tenant: tenant_a
    match: {paths: ["/checkout"]}
    fields:
      - {kind: pan, json: card.number, form: card_number}
      - {kind: cvv, json: card.cvc, form: card_cvc}
      - {kind: exp_month, json: card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: card.exp_year, form: card_exp_year}
outbound:
  psp:
    match: {paths: ["/payments"]}
    destinations: ["localhost:9087"]
    fallback: pan
    fields:
      - {kind: token, json: card.number, form: card_number}
      - {kind: exp_month, json: card.exp_month, form: card_exp_month}
      - {kind: exp_year, json: card.exp_year, form: card_exp_year}
      - {kind: cryptogram, json: card.cryptogram, form: card_cryptogram}
      - {kind: eci, json: card.eci, form: card_eci}
      - {kind: cvv, json: card.cvc, form: card_cvc}
`)
	// No HTTP->HTTPS redirects: they would listen on port 80.
	g.load(fmt.Sprintf(`{
	auto_https disable_redirects
	skip_install_trust
	local_certs
	storage file_system %s
	servers :9086 {
		protocols h1 h2c
	}
	servers :9087 {
		protocols h1 h2c
	}
	log {
		output file %s
		level DEBUG
	}
	tokengate {
		rules %s
		vault bolt {
			path %s
		}
		api_key %s tenant_a
	}
}
https://localhost:9443 {
	tls internal
	tokenize
	header Merchant-Saw-Proto "{http.request.proto}"
	respond "{http.request.body}"
}
https://localhost:9444 {
	tls internal
	detokenize
	reverse_proxy localhost:9087 {
		transport tokengate {
			versions h2c
		}
	}
}
:9086 {
	tokenize
	header Merchant-Saw-Proto "{http.request.proto}"
	respond "{http.request.body}"
}
:9087 {
	header Psp-Saw-Proto "{http.request.proto}"
	header X-Psp-Echo "{http.request.body}"
	demo_psp
}`, filepath.Join(dir, "storage"), filepath.Join(dir, "caddy.log"), rulesPath, filepath.Join(dir, "vault.db"), apiKeyA))

	tlsClient := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // Caddy's internal CA, made for this test
		ForceAttemptHTTP2: true,
	}}
	h2cProtocols := new(http.Protocols)
	h2cProtocols.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{Protocols: h2cProtocols}}

	// Caddy issues the sites' certificates in the background: wait until
	// both answer a handshake (bounded generously: a busy machine may be
	// slow to make the keys).
	for _, url := range []string{"https://localhost:9443/", "https://localhost:9444/"} {
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := tlsClient.Get(g.addr(url))
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never completed a TLS handshake: %v", url, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	send := func(c *http.Client, method, url, contentType, body string, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.addr(url), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s %s: answered over %s, want HTTP/2", method, url, resp.Proto)
		}
		return resp, string(b)
	}

	for _, inbound := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"h2 over TLS", tlsClient, "https://localhost:9443"},
		{"h2c", h2cClient, "http://localhost:9086"},
	} {
		t.Run(inbound.name, func(t *testing.T) {
			for _, pan := range []string{visaPAN, "4539097887163333"} { // a network token, and the PAN fallback
				resp, merchant := send(inbound.client, http.MethodPost, inbound.url+"/checkout", jsonCT, checkoutJSON(pan))
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Merchant-Saw-Proto") != "HTTP/2.0" {
					t.Fatalf("tokenize: %d over %q: %s", resp.StatusCode, resp.Header.Get("Merchant-Saw-Proto"), merchant)
				}
				if strings.Contains(merchant, pan) || strings.Contains(merchant, testCVV) {
					t.Fatalf("the merchant received card data over HTTP/2")
				}
				token := str(decode(t, merchant), "card.number")

				// A form, and a body whose length is not announced (HTTP/2
				// DATA frames without content-length).
				resp, form := send(inbound.client, http.MethodPost, inbound.url+"/checkout", "application/x-www-form-urlencoded",
					"card_number="+pan+"&card_cvc="+testCVV+"&card_exp_month=03&card_exp_year=2030")
				if resp.StatusCode != http.StatusOK || strings.Contains(form, pan) {
					t.Fatalf("form over HTTP/2: %d", resp.StatusCode)
				}

				// Outbound over TLS HTTP/2, to a processor over h2c.
				resp, echo := send(tlsClient, http.MethodPost, "https://localhost:9444/payments", jsonCT, merchant, "X-Tokengate-Api-Key", apiKeyA)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Psp-Saw-Proto") != "HTTP/2.0" {
					t.Fatalf("detokenize: %d, processor saw %q: %s", resp.StatusCode, resp.Header.Get("Psp-Saw-Proto"), echo)
				}
				received := lastReceived(t, g, "http://localhost:9087/received")
				psp := decode(t, received)
				dpan := str(psp, "card.number")
				if len(dpan) < 13 || dpan == token {
					t.Fatalf("the processor did not receive a detokenized body over h2c (%s)", resp.Header.Get(InjectedHeader))
				}
				for _, secret := range []string{pan, dpan, str(psp, "card.cryptogram")} {
					if secret != "" && (strings.Contains(echo, secret) || strings.Contains(fmt.Sprint(resp.Header), secret)) {
						t.Fatalf("the response guard let a secret through over HTTP/2")
					}
				}
			}
		})
	}
}
