package caddymodule

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/card"
)

const (
	visaPAN = "4111111111111111"
	testCVV = "123"
	jsonCT  = "application/json"
	formCT  = "application/x-www-form-urlencoded"
)

func checkoutJSON(pan string) string {
	return `{"order":"o-1","card":{"number":"` + pan + `","exp_month":"03","exp_year":"2030","cvc":"` + testCVV + `","name":"Ada Lovelace"}}`
}

// TestInboundOutboundJSON is the README's quick start on test ports: the
// merchant gets a token and never the PAN or CVV; the PSP gets a network
// token, its expiry, a fresh cryptogram and the ECI.
func TestInboundOutboundJSON(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if in.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	merchant := decode(t, in.body)
	token := str(merchant, "card.number")
	if !strings.HasPrefix(token, "tok_") || strings.Contains(in.body, visaPAN) {
		t.Fatalf("merchant saw %s", in.body)
	}
	if get(merchant, "card.cvc") != nil || strings.Contains(in.body, `"`+testCVV+`"`) {
		t.Fatalf("merchant saw the CVV: %s", in.body)
	}
	if str(merchant, "order") != "o-1" || str(merchant, "card.name") != "Ada Lovelace" || str(merchant, "card.exp_month") != "03" {
		t.Fatalf("other fields were lost: %s", in.body)
	}

	// The same card again gives the same token.
	again := decode(t, g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)).body)
	if str(again, "card.number") != token {
		t.Fatalf("same PAN gave a new token %q, want %q", str(again, "card.number"), token)
	}

	var cryptograms []string
	for i := 0; i < 2; i++ {
		out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
		if out.status != http.StatusOK {
			t.Fatalf("detokenize: %d %s", out.status, out.body)
		}
		if out.header.Get("Psp-Saw-Api-Key") != "" {
			t.Fatal("the API key header reached the PSP")
		}
		if got := out.header.Get(InjectedHeader); got != "card.number=network_token" {
			t.Fatalf("%s = %q", InjectedHeader, got)
		}
		psp := decode(t, out.body)
		dpan := str(psp, "card.number")
		assertNetworkToken(t, dpan, visaPAN)
		if str(psp, "card.eci") != "07" {
			t.Fatalf("eci = %q", str(psp, "card.eci"))
		}
		if str(psp, "card.exp_month") == "" || len(str(psp, "card.exp_year")) != 4 {
			t.Fatalf("token expiry missing: %s", out.body)
		}
		crypt := str(psp, "card.cryptogram")
		raw, err := base64.StdEncoding.DecodeString(crypt)
		if err != nil || len(raw) != 20 {
			t.Fatalf("cryptogram %q is not base64 of 20 bytes", crypt)
		}
		cryptograms = append(cryptograms, crypt)
	}
	if cryptograms[0] == cryptograms[1] {
		t.Fatal("the cryptogram was reused")
	}
}

func assertNetworkToken(t *testing.T, dpan, pan string) {
	t.Helper()
	brand, err := card.Validate(dpan)
	want, _ := card.Validate(pan)
	if err != nil || brand != want || len(dpan) != len(pan) || dpan == pan || dpan[:6] == pan[:6] {
		t.Fatalf("network token %s is not a Luhn-valid %s DPAN of length %d distinct from the card (err %v)", card.Mask(dpan), want, len(pan), err)
	}
}

func TestInboundOutboundForm(t *testing.T) {
	g := startGateway(t, "")
	form := url.Values{"card_number": {"5555555555554444"}, "card_cvc": {"321"}, "card_exp_month": {"11"}, "card_exp_year": {"2031"}, "amount": {"10.00"}}
	in := g.post(inboundURL+"/checkout", formCT, form.Encode())
	got, err := url.ParseQuery(in.body)
	if in.status != http.StatusOK || err != nil {
		t.Fatalf("tokenize: %d %s", in.status, in.body)
	}
	if !strings.HasPrefix(got.Get("card_number"), "tok_") || got.Has("card_cvc") || got.Get("amount") != "10.00" {
		t.Fatalf("merchant got %s", in.body)
	}
	out := g.post(outboundURL+"/payments", formCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp, _ := url.ParseQuery(out.body)
	if out.status != http.StatusOK {
		t.Fatalf("detokenize: %d %s", out.status, out.body)
	}
	assertNetworkToken(t, psp.Get("card_number"), "5555555555554444")
	if psp.Get("card_eci") == "" || len(psp.Get("card_cryptogram")) != 28 || psp.Get("amount") != "10.00" {
		t.Fatalf("psp got %s", out.body)
	}
}

func TestInboundOutboundMultipart(t *testing.T) {
	g := startGateway(t, "")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("card_number", "378282246310005")
	_ = mw.WriteField("card_cvc", "1234")
	_ = mw.WriteField("card_exp_month", "12")
	_ = mw.WriteField("card_exp_year", "2031")
	_ = mw.WriteField("note", "hello")
	fw, _ := mw.CreateFormFile("receipt", "r.bin")
	_, _ = fw.Write([]byte{0, 1, 2, 255})
	_ = mw.Close()
	in := g.post(inboundURL+"/checkout", mw.FormDataContentType(), buf.String())
	if in.status != http.StatusOK || strings.Contains(in.body, "378282246310005") || strings.Contains(in.body, "1234") {
		t.Fatalf("tokenize multipart: %d %q", in.status, in.body)
	}
	mr, err := multipartReader(in.body, mw.Boundary())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mr["card_number"], "tok_") || mr["note"] != "hello" || mr["receipt"] != "\x00\x01\x02\xff" {
		t.Fatalf("merchant got %q", mr)
	}
	out := g.post(outboundURL+"/payments", mw.FormDataContentType(), in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.status != http.StatusOK {
		t.Fatalf("detokenize multipart: %d %s", out.status, out.body)
	}
	psp, err := multipartReader(out.body, mw.Boundary())
	if err != nil {
		t.Fatal(err)
	}
	if out.header.Get(InjectedHeader) != "card_number=network_token" {
		t.Fatalf("%s = %q", InjectedHeader, out.header.Get(InjectedHeader))
	}
	assertNetworkToken(t, psp["card_number"], "378282246310005")
	if len(psp["card_cryptogram"]) != 28 || psp["receipt"] != "\x00\x01\x02\xff" {
		t.Fatalf("psp got %q", psp)
	}
}

func multipartReader(body, boundary string) (map[string]string, error) {
	r := multipart.NewReader(strings.NewReader(body), boundary)
	out := map[string]string{}
	for {
		p, err := r.NextPart()
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(p)
		out[p.FormName()] = b.String()
	}
}

// TestArraysAndAlias tokenizes several cards at once into format-preserving
// aliases that keep BIN and last 4 and can never pass for a PAN.
func TestArraysAndAlias(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/bulk", jsonCT, `{"cards":[{"number":"4111111111111111","cvc":"123"},{"number":"5555555555554444","cvc":"456"}]}`)
	if in.status != http.StatusOK {
		t.Fatalf("%d %s", in.status, in.body)
	}
	m := decode(t, in.body)
	for i, pan := range []string{"4111111111111111", "5555555555554444"} {
		alias := str(m, "cards."+string(rune('0'+i))+".number")
		if len(alias) != len(pan) || alias[:6] != pan[:6] || alias[12:] != pan[12:] || card.Luhn(alias) || alias == pan {
			t.Fatalf("card %d: alias %q is not format-preserving and Luhn-invalid", i, alias)
		}
		if str(m, "cards."+string(rune('0'+i))+".cvc") != "***" {
			t.Fatalf("kept CVV not masked: %s", in.body)
		}
	}
}

func TestInboundErrors(t *testing.T) {
	g := startGateway(t, "")
	bad := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4111111111111112"))
	if bad.status != http.StatusBadRequest {
		t.Fatalf("invalid PAN: %d %s", bad.status, bad.body)
	}
	e := decode(t, bad.body)
	if str(e, "status") != "error" || str(e, "error_info.fields.0.field_name") != "card.number" || str(e, "error_info.request_id") == "" || str(e, "error_info.category") != "USER_ERROR" {
		t.Fatalf("error body %s", bad.body)
	}
	if strings.Contains(bad.body, "4111111111111112") || strings.Contains(bad.body, "o-1") {
		t.Fatal("the error body echoed the request")
	}

	if r := g.post(inboundURL+"/checkout", jsonCT, `{"card":`); r.status != http.StatusBadRequest {
		t.Fatalf("malformed JSON: %d %s", r.status, r.body)
	}
	// Too large a body: see TestOversizedBodyCannotSmuggle (raw socket, as
	// the connection is closed after the 413).

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(checkoutJSON(visaPAN)))
	_ = zw.Close()
	req, _ := http.NewRequest(http.MethodPost, inboundURL+"/checkout", &gz)
	req.Header.Set("Content-Type", jsonCT)
	req.Header.Set("Content-Encoding", "gzip")
	if r := g.do(req); r.status != http.StatusOK || !strings.Contains(r.body, `"tok_`) {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN), "Content-Encoding", "br"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli body: %d %s", r.status, r.body)
	}
	// A content type no rule addresses streams through untouched.
	if r := g.post(inboundURL+"/checkout", "text/plain", "hello 4111"); r.status != http.StatusOK || r.body != "hello 4111" {
		t.Fatalf("text/plain: %d %q", r.status, r.body)
	}
}

func TestOutboundAuthTenantsAndFallback(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	if r := g.post(outboundURL+"/payments", jsonCT, in.body); r.status != http.StatusUnauthorized {
		t.Fatalf("no API key: %d", r.status)
	}
	if r := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", "wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("bad API key: %d", r.status)
	}
	if r := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyB); r.status != http.StatusForbidden || strings.Contains(r.body, visaPAN) {
		t.Fatalf("other tenant's key: %d %s", r.status, r.body)
	}

	// A card the network will not tokenize (seeds/003: Card Not Eligible)
	// still gets a working token; outbound falls back to the PAN and the CVV.
	in = g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("4539097887163333"))
	if in.status != http.StatusOK {
		t.Fatalf("not-eligible card: %d %s", in.status, in.body)
	}
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	psp := decode(t, out.body)
	if str(psp, "card.number") != "4539097887163333" || str(psp, "card.cvc") != testCVV || get(psp, "card.cryptogram") != nil {
		t.Fatalf("PAN fallback: %s", out.body)
	}
	if h := out.header.Get(InjectedHeader); h != "card.number=pan;reason=card_not_eligible" {
		t.Fatalf("%s = %q", InjectedHeader, h)
	}
	// The CVV serves one payment.
	out = g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if get(decode(t, out.body), "card.cvc") != nil {
		t.Fatal("the CVV was sent twice")
	}

	// With fallback reject, the same card is refused.
	token := str(decode(t, in.body), "card.number")
	r := g.post(outboundURL+"/strict/payments", jsonCT, `{"payment_method":{"token":"`+token+`"}}`, "X-Tokengate-Api-Key", apiKeyA)
	if r.status != http.StatusUnprocessableEntity || str(decode(t, r.body), "error_info.fields.0.field_name") != "payment_method.token" {
		t.Fatalf("reject fallback: %d %s", r.status, r.body)
	}
}

// TestSuspendedNetworkToken: a suspended token follows the fallback policy,
// and parents of injected fields are created.
func TestSuspendedNetworkToken(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("5555555555554444"))
	token := str(decode(t, in.body), "card.number")
	strict := `{"payment_method":{"token":"` + token + `"}}`
	ok := g.post(outboundURL+"/strict/payments", jsonCT, strict, "X-Tokengate-Api-Key", apiKeyA)
	if ok.status != http.StatusOK || len(str(decode(t, ok.body), "payment_method.card.network_token.cryptogram")) != 28 {
		t.Fatalf("strict with active token: %d %s", ok.status, ok.body)
	}

	a := g.app()
	rec, err := a.stack.Load().Records.Get(t.Context(), "tenant_a", token)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.networks["builtin"].SetStatus(t.Context(), rec.Network.ID, "SUSPENDED"); err != nil {
		t.Fatal(err)
	}
	if r := g.post(outboundURL+"/strict/payments", jsonCT, strict, "X-Tokengate-Api-Key", apiKeyA); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("strict with suspended token: %d %s", r.status, r.body)
	}
	r := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if str(decode(t, r.body), "card.number") != "5555555555554444" || r.header.Get(InjectedHeader) != "card.number=pan;reason=suspended" {
		t.Fatalf("pan fallback with suspended token: %s %q", r.body, r.header.Get(InjectedHeader))
	}
}

// TestFailClosed: when the vault cannot store the card the request is
// answered 503 and the PAN goes nowhere.
func TestFailClosed(t *testing.T) {
	g := startGateway(t, "")
	if err := g.app().stack.Load().Records.Close(); err != nil {
		t.Fatal(err)
	}
	r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON("6011111111111117"))
	if r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "6011111111111117") {
		t.Fatalf("closed vault: %d %s", r.status, r.body)
	}
}

// TestCardsSurviveRestart: the vault and the network token service's state
// are on disk. A config without tokengate closes the bbolt file (as a restart
// does); loading the gateway again still detokenizes to a network token with
// a fresh cryptogram.
func TestCardsSurviveRestart(t *testing.T) {
	g := startGateway(t, "")
	in := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN))
	g.load(":9080 {\n\trespond \"down\"\n}\n")
	if r := g.post(inboundURL+"/checkout", jsonCT, "{}"); r.body != "down" {
		t.Fatalf("gateway still running: %s", r.body)
	}
	g.load(g.config("", defaultSites))
	out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
	if out.header.Get(InjectedHeader) != "card.number=network_token" {
		t.Fatalf("after a restart: %d %q", out.status, out.header.Get(InjectedHeader))
	}
	assertNetworkToken(t, str(decode(t, out.body), "card.number"), visaPAN)
}
