package tokenize_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/cvv"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/tokenize"
	"github.com/tokengate/tokengate/vault"
)

var prefixedToken = regexp.MustCompile(`^tok_[0-9A-Za-z]{24}$`)

// record returns the vault record for token, failing the test if missing.
func (e *env) record(t *testing.T, tenant, token string) vault.Record {
	t.Helper()
	rec, err := e.vault.Get(context.Background(), tenant, token)
	if err != nil {
		t.Fatalf("vault.Get(%s): %v", tenant, err)
	}
	return rec
}

// secrets opens a record's sealed card data.
func (e *env) secrets(t *testing.T, rec vault.Record) keys.Secrets {
	t.Helper()
	s, err := e.keys.Open(rec.Tenant, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// stored reports whether the tenant's vault holds a card for pan.
func (e *env) stored(t *testing.T, tenant, pan string) bool {
	t.Helper()
	_, err := e.vault.GetByFingerprint(context.Background(), tenant, e.keys.Fingerprint(tenant, pan))
	switch {
	case err == nil:
		return true
	case errors.Is(err, vault.ErrNotFound):
		return false
	}
	t.Fatalf("GetByFingerprint: %v", err)
	return false
}

func TestTokenizeJSONCard(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	in := cardJSON("4111 1111 1111 1111", "123", "12", "2030")

	out, res := e.apply(t, set, in)

	tok := gjson.GetBytes(out, "card.number").String()
	if !prefixedToken.MatchString(tok) {
		t.Fatalf("card.number = %q, want a tok_ token", tok)
	}
	if gjson.GetBytes(out, "card.cvc").Exists() {
		t.Errorf("card.cvc still in body: %s", out)
	}
	for _, p := range []string{"card.exp_month", "card.exp_year", "card.name", "order", "tail"} {
		if got, want := gjson.GetBytes(out, p).Raw, gjson.Get(in, p).Raw; got != want {
			t.Errorf("%s = %s, want it unchanged %s", p, got, want)
		}
	}
	// Everything outside the card object is byte-identical.
	head := in[:strings.Index(in, `"card"`)]
	tail := in[strings.Index(in, `,"tail"`):]
	if !bytes.HasPrefix(out, []byte(head)) || !bytes.HasSuffix(out, []byte(tail)) {
		t.Errorf("bytes outside the card changed:\n in: %s\nout: %s", in, out)
	}
	if bytes.Contains(out, []byte(visaPAN)) || bytes.Contains(out, []byte("4111 1111")) || bytes.Contains(out, []byte(`"123"`)) {
		t.Errorf("card data left in body: %s", out)
	}
	want := tokenize.Result{Cards: 1, Created: 1, Fields: 2, NetworkTokens: 1}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Result = %+v, want %+v", res, want)
	}

	rec := e.record(t, tenantA, tok)
	if rec.Brand != string(card.Visa) || rec.BIN != "411111" || rec.Last4 != "1111" || rec.ExpMonth != "12" || rec.ExpYear != "2030" {
		t.Errorf("record facts = %s %s %s %s/%s", rec.Brand, rec.BIN, rec.Last4, rec.ExpMonth, rec.ExpYear)
	}
	if rec.Network.Status != network.StatusActive || rec.Network.ID == "" || rec.Network.Provider != networkID || rec.Network.Error != "" {
		t.Errorf("record network = %+v, want an active builtin token", rec.Network)
	}
	s := e.secrets(t, rec)
	if s.PAN != visaPAN || s.Name != "Jane Doe" || s.DPAN == "" || card.Last4(s.DPAN) != rec.Network.Last4 {
		t.Errorf("sealed secrets do not hold the normalized PAN, name and DPAN")
	}
	cvv, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, tok)
	if !ok || cvv != "123" {
		t.Errorf("held CVV = %q, %v; want 123", cvv, ok)
	}
	// The vault file never holds the PAN in clear.
	e.vault.Close()
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(visaPAN)) {
		t.Error("vault file contains the PAN in clear")
	}
}

func TestTokenizeSameCardSameToken(t *testing.T) {
	e := newEnv(t)
	setA, setB := cardSet(t, tenantA), cardSet(t, tenantB)

	out1, res1 := e.apply(t, setA, cardJSON(visaPAN, "123", "12", "2030"))
	out2, res2 := e.apply(t, setA, cardJSON("4111-1111-1111-1111", "456", "12", "2030"))
	out3, res3 := e.apply(t, setB, cardJSON(visaPAN, "123", "12", "2030"))
	out4, _ := e.apply(t, setA, cardJSON(visa2PAN, "123", "12", "2030"))

	tok1 := gjson.GetBytes(out1, "card.number").String()
	tok2 := gjson.GetBytes(out2, "card.number").String()
	tok3 := gjson.GetBytes(out3, "card.number").String()
	tok4 := gjson.GetBytes(out4, "card.number").String()
	if tok1 != tok2 {
		t.Errorf("same PAN, same tenant: tokens %q and %q differ", tok1, tok2)
	}
	if tok3 == tok1 {
		t.Error("same PAN in another tenant got the same token")
	}
	if tok4 == tok1 {
		t.Error("another PAN got the same token")
	}
	if res1.Created != 1 || res2.Created != 0 || res3.Created != 1 {
		t.Errorf("Created = %d, %d, %d; want 1, 0, 1", res1.Created, res2.Created, res3.Created)
	}
	if res2.Cards != 1 || res2.Fields != 2 || res2.NetworkTokens != 1 {
		t.Errorf("repeat Result = %+v", res2)
	}
	// The latest CVV is the one held.
	if cvv, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, tok1); !ok || cvv != "456" {
		t.Errorf("held CVV = %q, %v; want the latest, 456", cvv, ok)
	}
	// The other tenant cannot see tenant A's token.
	if _, err := e.vault.Get(context.Background(), tenantB, tok1); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("tenant B Get(tenant A token) = %v, want ErrNotFound", err)
	}
}

func TestTokenizeFormats(t *testing.T) {
	tests := []struct {
		name   string
		opts   []string
		pan    string
		cvv    string
		check  func(t *testing.T, tok, pan string)
		netErr string
	}{
		{
			name: "prefixed default",
			pan:  visaPAN, cvv: "123",
			check: func(t *testing.T, tok, _ string) {
				if !prefixedToken.MatchString(tok) {
					t.Errorf("token %q, want tok_ + 24 base62", tok)
				}
			},
		},
		{
			name: "custom prefix",
			opts: []string{"token_prefix: card_"},
			pan:  visaPAN, cvv: "123",
			check: func(t *testing.T, tok, _ string) {
				if !regexp.MustCompile(`^card_[0-9A-Za-z]{24}$`).MatchString(tok) {
					t.Errorf("token %q, want card_ + 24 base62", tok)
				}
			},
		},
		{
			name: "uuid",
			opts: []string{"token_format: uuid"},
			pan:  visaPAN, cvv: "123",
			check: func(t *testing.T, tok, _ string) {
				id, err := uuid.Parse(tok)
				if err != nil || id.Version() != 4 || id.String() != tok {
					t.Errorf("token %q is not a canonical v4 UUID (%v)", tok, err)
				}
			},
		},
		{
			name: "alias",
			opts: []string{"token_format: alias"},
			pan:  mcPAN, cvv: "123",
			check: func(t *testing.T, tok, pan string) {
				if len(tok) != len(pan) || tok[:6] != pan[:6] || tok[len(tok)-4:] != pan[len(pan)-4:] {
					t.Errorf("alias does not keep length, first 6 and last 4")
				}
				if tok == pan || card.Luhn(tok) {
					t.Errorf("alias is the PAN or Luhn-valid")
				}
			},
		},
		{
			name: "alias amex",
			opts: []string{"token_format: alias"},
			pan:  amexPAN, cvv: "1234",
			check: func(t *testing.T, tok, pan string) {
				if len(tok) != 15 || tok[:6] != pan[:6] || tok[11:] != pan[11:] || card.Luhn(tok) {
					t.Errorf("amex alias malformed")
				}
			},
		},
		{
			name: "network token",
			opts: []string{"token_format: network_token"},
			pan:  visaPAN, cvv: "123",
			check: func(t *testing.T, tok, pan string) {
				brand, err := card.Validate(tok)
				if err != nil || brand != card.Visa {
					t.Errorf("network token is not a valid Visa number: %v %v", brand, err)
				}
				if tok == pan || tok[:6] == pan[:6] {
					t.Errorf("network token reuses the card number or its BIN")
				}
			},
		},
		{
			name: "network token mastercard",
			opts: []string{"token_format: network_token"},
			pan:  mcPAN, cvv: "123",
			check: func(t *testing.T, tok, pan string) {
				brand, err := card.Validate(tok)
				if err != nil || brand != card.Mastercard || tok == pan {
					t.Errorf("network token is not a valid Mastercard DPAN: %v %v", brand, err)
				}
			},
		},
		{
			name: "network token, card not eligible",
			opts: []string{"token_format: network_token"},
			pan:  notElig, cvv: "123",
			check: func(t *testing.T, tok, _ string) {
				if !prefixedToken.MatchString(tok) {
					t.Errorf("token %q, want the tok_ fallback", tok)
				}
			},
			netErr: network.CodeCardNotEligible,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			set := cardSet(t, tenantA, tc.opts...)
			out, res := e.apply(t, set, cardJSON(tc.pan, tc.cvv, "12", "2030"))
			tok := gjson.GetBytes(out, "card.number").String()
			tc.check(t, tok, tc.pan)

			rec := e.record(t, tenantA, tok)
			if rec.Network.Error != tc.netErr {
				t.Errorf("Network.Error = %q, want %q", rec.Network.Error, tc.netErr)
			}
			wantNT := 1
			if tc.netErr != "" {
				wantNT = 0
			}
			if res.NetworkTokens != wantNT {
				t.Errorf("NetworkTokens = %d, want %d", res.NetworkTokens, wantNT)
			}
			if s := e.secrets(t, rec); s.PAN != tc.pan {
				t.Error("record does not hold the PAN")
			} else if set.Format == "network_token" && tc.netErr == "" && s.DPAN != tok {
				t.Error("network_token format: token is not the record's DPAN")
			}
			// The same card again gets the same token, in every format.
			out2, _ := e.apply(t, set, cardJSON(tc.pan, tc.cvv, "12", "2030"))
			if tok2 := gjson.GetBytes(out2, "card.number").String(); tok2 != tok {
				t.Errorf("second tokenization gave %q, want %q", tok2, tok)
			}
		})
	}
}

func TestTokenizeArrays(t *testing.T) {
	for _, keep := range []bool{false, true} {
		name := "remove cvv"
		if keep {
			name = "keep cvv"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			set := arraySet(t, tenantA, keep)
			in := `{"cards":[{"number":"` + visaPAN + `","cvc":"111","exp_month":"12","exp_year":"2030"},` +
				`{"number":"` + amexPAN + `","cvc":"2222","exp_month":"01","exp_year":"2031"}],"amount":100}`
			out, res := e.apply(t, set, in)

			tok0 := gjson.GetBytes(out, "cards.0.number").String()
			tok1 := gjson.GetBytes(out, "cards.1.number").String()
			if !prefixedToken.MatchString(tok0) || !prefixedToken.MatchString(tok1) || tok0 == tok1 {
				t.Fatalf("tokens %q, %q: want two distinct tok_ tokens", tok0, tok1)
			}
			if !reflect.DeepEqual(res, tokenize.Result{Cards: 2, Created: 2, Fields: 4, NetworkTokens: 2}) {
				t.Errorf("Result = %+v", res)
			}
			for i, want := range []string{"111", "2222"} {
				path := "cards." + string(rune('0'+i)) + ".cvc"
				got := gjson.GetBytes(out, path)
				switch {
				case keep && got.String() != "***":
					t.Errorf("%s = %s, want the *** mask", path, got.Raw)
				case !keep && got.Exists():
					t.Errorf("%s = %s, want it removed", path, got.Raw)
				}
				tok := []string{tok0, tok1}[i]
				if cvv, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, tok); !ok || cvv != want {
					t.Errorf("CVV held for card %d = %q, %v; want %s", i, cvv, ok, want)
				}
			}
			if gjson.GetBytes(out, "amount").Raw != "100" || gjson.GetBytes(out, "cards.1.exp_month").String() != "01" {
				t.Errorf("other fields changed: %s", out)
			}
			if r := e.record(t, tenantA, tok1); r.Brand != string(card.Amex) || r.Last4 != "0005" || r.ExpYear != "2031" {
				t.Errorf("card 1 record = %s %s %s", r.Brand, r.Last4, r.ExpYear)
			}
		})
	}
}

func TestTokenizeValidationErrors(t *testing.T) {
	const far = "2030"
	tests := []struct {
		name        string
		pan, cvv    string
		month, year string
		field, code string
	}{
		{"bad luhn", "4111111111111112", "123", "12", far, "card.number", card.CodeInvalidLuhn},
		{"letters", "4111abcd11111111", "123", "12", far, "card.number", card.CodeInvalidCharacters},
		{"too short", "41111111111", "123", "12", far, "card.number", card.CodeInvalidLength},
		{"empty number", "", "123", "12", far, "card.number", "missing_value"},
		{"cvv too short", visaPAN, "12", "12", far, "card.cvc", card.CodeInvalidCVV},
		{"cvv letters", visaPAN, "12a", "12", far, "card.cvc", card.CodeInvalidCVV},
		{"amex needs 4-digit cvv", amexPAN, "123", "12", far, "card.cvc", card.CodeInvalidCVV},
		{"month 13", visaPAN, "123", "13", far, "card.exp_month", card.CodeInvalidExpMonth},
		{"month empty", visaPAN, "123", "", far, "card.exp_month", card.CodeInvalidExpMonth},
		{"year malformed", visaPAN, "123", "12", "203", "card.exp_year", card.CodeInvalidExpYear},
		{"expired", visaPAN, "123", "05", "2026", "card.exp_*", card.CodeExpired},
		{"expired two-digit year", visaPAN, "123", "12", "25", "card.exp_*", card.CodeExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			in := cardJSON(tc.pan, tc.cvv, tc.month, tc.year)
			doc := parseJSON(t, in)
			res, err := e.tk.Apply(context.Background(), cardSet(t, tenantA), body.JSON, doc)

			var fe *body.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *body.FieldError", err)
			}
			if fe.Status != 400 || fe.Code != tc.code {
				t.Errorf("FieldError = %d %s, want 400 %s", fe.Status, fe.Code, tc.code)
			}
			if tc.field == "card.exp_*" {
				if fe.Field != "card.exp_month" && fe.Field != "card.exp_year" {
					t.Errorf("Field = %q, want an expiry field", fe.Field)
				}
			} else if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q", fe.Field, tc.field)
			}
			if errors.Is(err, tokenize.ErrUnavailable) {
				t.Error("bad input reported as ErrUnavailable")
			}
			msg := err.Error()
			if tc.pan != "" && (strings.Contains(msg, tc.pan) || strings.Contains(msg, tc.pan[len(tc.pan)-6:])) {
				t.Errorf("error text %q contains the card number", msg)
			}
			if !reflect.DeepEqual(res, tokenize.Result{}) {
				t.Errorf("Result = %+v on error, want zero", res)
			}
			if got := docBytes(t, doc); string(got) != in {
				t.Errorf("doc edited on error: %s", got)
			}
			if e.cvvs.Len() != 0 {
				t.Error("a CVV is held after a rejected request")
			}
		})
	}
}

func TestTokenizeSecondCardInvalidStoresNothing(t *testing.T) {
	e := newEnv(t)
	cn := newCountingNet(e.net, 0)
	e.setNet(cn)
	in := `{"cards":[{"number":"` + visaPAN + `","cvc":"111","exp_month":"12","exp_year":"2030"},` +
		`{"number":"5555555555554445","cvc":"222","exp_month":"12","exp_year":"2030"}]}`
	doc := parseJSON(t, in)

	_, err := e.tk.Apply(context.Background(), arraySet(t, tenantA, false), body.JSON, doc)

	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Field != "cards.1.number" || fe.Code != card.CodeInvalidLuhn || fe.Status != 400 {
		t.Fatalf("err = %#v, want 400 invalid_luhn at cards.1.number", err)
	}
	if strings.Contains(err.Error(), "5555555555554445") || strings.Contains(err.Error(), visaPAN) {
		t.Errorf("error text contains a PAN: %v", err)
	}
	if got := docBytes(t, doc); string(got) != in {
		t.Errorf("doc edited: %s", got)
	}
	if e.stored(t, tenantA, visaPAN) {
		t.Error("the valid first card was stored although the request was rejected")
	}
	if p, _ := cn.counts(); p != 0 {
		t.Errorf("%d network tokens provisioned for a rejected request", p)
	}
	if e.cvvs.Len() != 0 {
		t.Error("a CVV is held after a rejected request")
	}
}

func TestTokenizeFailClosed(t *testing.T) {
	down := errors.New("disk on fire")
	tests := []struct {
		name      string
		vault     func(v vault.Vault) vault.Vault
		cvvs      cvv.Store
		preload   bool // tokenize the card once first, so the refresh path runs
		unavail   bool // errors.Is(err, ErrUnavailable)
		discarded bool // the provisioned network token must be deleted
	}{
		{name: "put fails", vault: func(v vault.Vault) vault.Vault { return &faultyVault{Vault: v, putErr: down} }, unavail: true, discarded: true},
		{name: "lookup fails", vault: func(v vault.Vault) vault.Vault { return &faultyVault{Vault: v, getFPErr: down} }, unavail: true},
		{name: "expiry update fails", vault: func(v vault.Vault) vault.Vault { return &faultyVault{Vault: v, updateErr: down} }, preload: true, unavail: true},
		{name: "cvv store fails", cvvs: failingCVVs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cn := newCountingNet(e.net, 0)
			e.setNet(cn)
			set := cardSet(t, tenantA)
			if tc.preload {
				e.apply(t, set, cardJSON(visaPAN, "123", "11", "2030"))
			}
			if tc.vault != nil {
				e.tk.Vault = vault.NewShortLived(tc.vault(e.vault))
			}
			if tc.cvvs != nil {
				e.tk.CVVs = tc.cvvs
			}
			in := cardJSON(visaPAN, "123", "12", "2030")
			doc := parseJSON(t, in)

			_, err := e.tk.Apply(context.Background(), set, body.JSON, doc)

			if err == nil {
				t.Fatal("Apply succeeded with a failing store")
			}
			var fe *body.FieldError
			if errors.As(err, &fe) {
				t.Errorf("store failure reported as bad input: %v", err)
			}
			if tc.unavail && !errors.Is(err, tokenize.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), visaPAN) {
				t.Errorf("error contains the PAN: %v", err)
			}
			if got := docBytes(t, doc); string(got) != in {
				t.Errorf("doc edited although the card was not stored: %s", got)
			}
			if tc.discarded {
				p, d := cn.counts()
				if p != 1 || d != 1 {
					t.Errorf("provisioned %d, deleted %d; want the unused network token deleted", p, d)
				}
				if status := tokenStatus(t, e.net, cn.provisioned[0]); status != network.StatusDeleted && status != "" {
					t.Errorf("network token status = %q, want DELETED or never saved", status)
				}
			}
		})
	}
}

func TestTokenizeNetworkFailures(t *testing.T) {
	tests := []struct {
		name    string
		net     network.Service
		timeout time.Duration
		want    string
		maxTime time.Duration
	}{
		{name: "timeout", net: blockingNet{}, timeout: 50 * time.Millisecond, want: "timeout", maxTime: time.Second},
		{name: "declined", net: refusingNet{err: &network.Error{Code: network.CodeCardDeclined, Message: "Card Declined"}}, want: "card_declined"},
		{name: "wrapped refusal", net: refusingNet{err: errors.Join(errors.New("tsp"), &network.Error{Code: "card_not_allowed"})}, want: "card_not_allowed"},
		{name: "transport error", net: refusingNet{err: errors.New("connection refused")}, want: "provider_error"},
		{name: "no service", net: nil, want: "no_token_service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.setNet(tc.net)
			e.tk.Lifecycle.ProvisionTimeout = tc.timeout
			start := time.Now()
			out, res := e.apply(t, cardSet(t, tenantA), cardJSON(visaPAN, "123", "12", "2030"))
			if tc.maxTime > 0 && time.Since(start) > tc.maxTime {
				t.Errorf("Apply took %v, want the provisioning budget honoured", time.Since(start))
			}
			tok := gjson.GetBytes(out, "card.number").String()
			if !prefixedToken.MatchString(tok) {
				t.Fatalf("card.number = %q, want a vault-only tok_ token", tok)
			}
			if !reflect.DeepEqual(res, tokenize.Result{Cards: 1, Created: 1, Fields: 2, NetworkTokens: 0}) {
				t.Errorf("Result = %+v", res)
			}
			rec := e.record(t, tenantA, tok)
			if rec.Network.Error != tc.want || rec.Network.ID != "" || rec.Network.Status == network.StatusActive {
				t.Errorf("record network = %+v, want vault-only with error %q", rec.Network, tc.want)
			}
			if s := e.secrets(t, rec); s.PAN != visaPAN || s.DPAN != "" {
				t.Error("vault-only record must hold the PAN and no DPAN")
			}
		})
	}
}

// TestTokenizeConcurrentSameCard: twenty requests race with one new card.
// One record is stored; a provider that honours the idempotency key hands
// all of them the same network token, and with one that does not, every
// token but the stored one is given back.
func TestTokenizeConcurrentSameCard(t *testing.T) {
	t.Run("idempotent provider", func(t *testing.T) { testConcurrentSameCard(t, false) })
	t.Run("provider ignoring the idempotency key", func(t *testing.T) { testConcurrentSameCard(t, true) })
}

func testConcurrentSameCard(t *testing.T, noIdempotency bool) {
	const n = 20
	e := newEnv(t)
	cn := newCountingNet(e.net, n) // every request reaches the network before any stores
	cn.noIdempotency = noIdempotency
	e.setNet(cn)
	set := cardSet(t, tenantA)

	var wg sync.WaitGroup
	tokens := make([]string, n)
	results := make([]tokenize.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := body.Parse(body.JSON, "application/json", []byte(cardJSON(visaPAN, "123", "12", "2030")))
			if err != nil {
				errs[i] = err
				return
			}
			results[i], errs[i] = e.tk.Apply(context.Background(), set, body.JSON, doc)
			out, _ := doc.Bytes()
			tokens[i] = gjson.GetBytes(out, "card.number").String()
		}()
	}
	wg.Wait()

	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Errorf("request %d got token %q, request 0 %q", i, tokens[i], tokens[0])
		}
		created += results[i].Created
	}
	if created != 1 {
		t.Errorf("Created summed to %d, want 1", created)
	}
	winner := e.record(t, tenantA, tokens[0]).Network.ID
	p, d := cn.counts()
	wantDeleted := n - 1
	if !noIdempotency {
		wantDeleted = 0
		for _, id := range cn.provisioned {
			if id != winner {
				t.Errorf("with one idempotency key the provider issued %s besides %s", id, winner)
			}
		}
	}
	if p != n || d != wantDeleted {
		t.Errorf("provisioned %d, deleted %d; want %d and %d", p, d, n, wantDeleted)
	}
	for _, id := range cn.provisioned {
		status := tokenStatus(t, e.net, id)
		switch {
		case id == winner && status != network.StatusActive:
			t.Errorf("network token %s: status %q, want ACTIVE", id, status)
		case id != winner && status != network.StatusDeleted && status != "":
			t.Errorf("network token %s: status %q, want DELETED or never saved", id, status)
		}
	}
}

// tokenStatus returns the token's status at the service, "" when the service
// never saved it: a token provisioned in a unit of work that was rolled back
// (its card was not stored) is given back by never existing.
func tokenStatus(t *testing.T, svc network.Service, id string) string {
	t.Helper()
	tok, err := svc.Get(context.Background(), id)
	if errors.Is(err, network.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status
}

func TestTokenizeExpiryRefresh(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	out, _ := e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))
	tok := gjson.GetBytes(out, "card.number").String()
	first := e.record(t, tenantA, tok)

	// The same expiry changes nothing.
	e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))
	if again := e.record(t, tenantA, tok); !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Error("record rewritten although nothing changed")
	}

	// A reissued card: same PAN, newer expiry.
	out2, res := e.apply(t, set, cardJSON(visaPAN, "123", "03", "2032"))
	if tok2 := gjson.GetBytes(out2, "card.number").String(); tok2 != tok {
		t.Fatalf("reissued card got a new token %q, want %q", tok2, tok)
	}
	if res.Created != 0 || res.Cards != 1 {
		t.Errorf("Result = %+v, want 1 known card", res)
	}
	rec := e.record(t, tenantA, tok)
	if rec.ExpMonth != "03" || rec.ExpYear != "2032" {
		t.Errorf("record expiry = %s/%s, want 03/2032", rec.ExpMonth, rec.ExpYear)
	}
	if rec.Network.ID != first.Network.ID || !bytes.Equal(rec.Sealed, first.Sealed) || !rec.CreatedAt.Equal(first.CreatedAt) {
		t.Error("refresh changed more than the expiry")
	}
}

// TestTokenizeOlderExpiryDoesNotDowngrade: refresh is documented to update a
// known card's expiry "when the customer sends a newer one".
func TestTokenizeOlderExpiryDoesNotDowngrade(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	out, _ := e.apply(t, set, cardJSON(visaPAN, "123", "03", "2032"))
	tok := gjson.GetBytes(out, "card.number").String()

	e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))

	if rec := e.record(t, tenantA, tok); rec.ExpMonth != "03" || rec.ExpYear != "2032" {
		t.Errorf("record expiry = %s/%s after an older expiry was sent, want it kept at 03/2032", rec.ExpMonth, rec.ExpYear)
	}
}

func TestTokenizeForm(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	in := "amount=100&card_number=4111+1111+1111+1111&card_cvc=123&card_exp_month=12&card_exp_year=2030&card_name=Jane+Doe&note=a%26b"
	doc, err := body.Parse(body.Form, "application/x-www-form-urlencoded", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.tk.Apply(context.Background(), set, body.Form, doc)
	if err != nil {
		t.Fatal(err)
	}
	out := string(docBytes(t, doc))
	m := regexp.MustCompile(`^amount=100&card_number=(tok_[0-9A-Za-z]{24})&card_exp_month=12&card_exp_year=2030&card_name=Jane\+Doe&note=a%26b$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("form body = %q", out)
	}
	if !reflect.DeepEqual(res, tokenize.Result{Cards: 1, Created: 1, Fields: 2, NetworkTokens: 1}) {
		t.Errorf("Result = %+v", res)
	}
	if s := e.secrets(t, e.record(t, tenantA, m[1])); s.PAN != visaPAN || s.Name != "Jane Doe" {
		t.Error("form card not stored with its decoded PAN and name")
	}

	// The same card as JSON gets the same token.
	out2, _ := e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))
	if gjson.GetBytes(out2, "card.number").String() != m[1] {
		t.Error("same card through JSON and form got different tokens")
	}
}

func TestTokenizeNoCardLeavesBodyAlone(t *testing.T) {
	e := newEnv(t)
	for _, in := range []string{
		`{"order":{"id":1}}`,
		`{"card":{"exp_month":"12"}}`, // no PAN: nothing to tokenize
		`[1,2,3]`,
	} {
		doc := parseJSON(t, in)
		res, err := e.tk.Apply(context.Background(), cardSet(t, tenantA), body.JSON, doc)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !reflect.DeepEqual(res, tokenize.Result{}) {
			t.Errorf("%s: Result = %+v, want zero", in, res)
		}
		if got := docBytes(t, doc); string(got) != in {
			t.Errorf("%s: body changed to %s", in, got)
		}
	}
}

// TestTokenizeNestedArraysBodyOrder: cards are documented to be handled, and
// errors reported, in body order ("numerically, segment by segment").
func TestTokenizeNestedArraysBodyOrder(t *testing.T) {
	e := newEnv(t)
	set := inboundSet(t, `inbound:
  orders:
    tenant: `+tenantA+`
    fields:
      - {kind: pan, json: orders.#.cards.#.number}
`)
	var b strings.Builder
	b.WriteString(`{"orders":[{"cards":[`)
	for i := range 11 {
		if i > 0 {
			b.WriteByte(',')
		}
		pan := visaPAN
		if i == 10 {
			pan = "4111111111111112" // first invalid card in body order: orders.0.cards.10
		}
		b.WriteString(`{"number":"` + pan + `"}`)
	}
	b.WriteString(`]},{"cards":[{"number":"5555555555554445"}]}]}`) // second invalid card: orders.1.cards.0
	_, err := e.tk.Apply(context.Background(), set, body.JSON, parseJSON(t, b.String()))
	var fe *body.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a FieldError", err)
	}
	if fe.Field != "orders.0.cards.10.number" {
		t.Errorf("error names %q, want the first invalid card in body order, orders.0.cards.10.number", fe.Field)
	}
}

// TestTokenizeCVVsWithoutCardNumberBodyOrder: of several CVVs without a
// card number, the error names the first in body order, every time (map
// order used to pick one at random).
func TestTokenizeCVVsWithoutCardNumberBodyOrder(t *testing.T) {
	e := newEnv(t)
	set := inboundSet(t, `inbound:
  orders:
    tenant: `+tenantA+`
    fields:
      - {kind: pan, json: cards.#.number}
      - {kind: cvv, json: cards.#.cvc}
`)
	in := `{"cards":[{"number":"` + visaPAN + `","cvc":"123"},{"cvc":"111"},{"cvc":"222"},{"cvc":"333"},{"cvc":"444"},{"cvc":"555"},{"cvc":"666"},{"cvc":"777"},{"cvc":"888"},{"cvc":"999"},{"cvc":"000"}]}`
	for range 20 {
		_, err := e.tk.Apply(context.Background(), set, body.JSON, parseJSON(t, in))
		var fe *body.FieldError
		if !errors.As(err, &fe) || fe.Code != "missing_card_number" || fe.Field != "cards.1.cvc" {
			t.Fatalf("err = %v, want missing_card_number naming cards.1.cvc, the first in body order", err)
		}
	}
}

func TestTokenizeFormRepeatedFields(t *testing.T) {
	e := newEnv(t)
	in := "card_number=" + visaPAN + "&card_cvc=111&card_number=" + mcPAN + "&card_cvc=222&card_exp_month=12&card_exp_month=11&card_exp_year=2030&card_exp_year=2031"
	doc, err := body.Parse(body.Form, "application/x-www-form-urlencoded", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.tk.Apply(context.Background(), cardSet(t, tenantA), body.Form, doc)
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(string(docBytes(t, doc)))
	if err != nil {
		t.Fatal(err)
	}
	toks := q["card_number"]
	if len(toks) != 2 || !prefixedToken.MatchString(toks[0]) || !prefixedToken.MatchString(toks[1]) || toks[0] == toks[1] {
		t.Fatalf("card_number = %v, want two distinct tokens", toks)
	}
	if q.Has("card_cvc") || res.Cards != 2 || res.Fields != 4 {
		t.Errorf("cvc left %v, Result %+v", q["card_cvc"], res)
	}
	for i, want := range []struct{ pan, cvv, month string }{{visaPAN, "111", "12"}, {mcPAN, "222", "11"}} {
		rec := e.record(t, tenantA, toks[i])
		if e.secrets(t, rec).PAN != want.pan || rec.ExpMonth != want.month {
			t.Errorf("occurrence %d: wrong card or expiry stored", i)
		}
		if cvv, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, toks[i]); !ok || cvv != want.cvv {
			t.Errorf("occurrence %d: CVV %q held, want %s", i, cvv, want.cvv)
		}
	}
}

// visaN returns a distinct Luhn-valid 16-digit Visa number for each n.
func visaN(n int) string {
	partial := "411111" + strconv.Itoa(100000000+n)
	return partial + string(card.LuhnDigit(partial))
}

func TestTokenizeManyCards(t *testing.T) {
	const n = 40 // more than one batch of concurrently stored cards
	e := newEnv(t)
	set := arraySet(t, tenantA, false)
	var b strings.Builder
	b.WriteString(`{"cards":[`)
	for i := range n + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		pan := visaN(i)
		if i == n {
			pan = visaN(0) // the first card again
		}
		b.WriteString(`{"number":"` + pan + `","cvc":"123","exp_month":"12","exp_year":"2030"}`)
	}
	b.WriteString(`]}`)

	out, res := e.apply(t, set, b.String())

	if !reflect.DeepEqual(res, tokenize.Result{Cards: n + 1, Created: n, Fields: 2 * (n + 1), NetworkTokens: n + 1}) {
		t.Errorf("Result = %+v", res)
	}
	seen := map[string]int{}
	for i := range n + 1 {
		tok := gjson.GetBytes(out, "cards."+strconv.Itoa(i)+".number").String()
		want := visaN(i)
		if i == n {
			want = visaN(0)
		}
		if s := e.secrets(t, e.record(t, tenantA, tok)); s.PAN != want {
			t.Fatalf("cards.%d got the token of another card", i)
		}
		if j, dup := seen[tok]; dup && !(j == 0 && i == n) {
			t.Errorf("cards.%d and cards.%d share a token", j, i)
		}
		seen[tok] = i
	}
	if gjson.GetBytes(out, "cards.0.number").String() != gjson.GetBytes(out, "cards."+strconv.Itoa(n)+".number").String() {
		t.Error("the same card twice in one body got two tokens")
	}
}

func TestTokenizeManyCardsOneFails(t *testing.T) {
	e := newEnv(t)
	cn := newCountingNet(e.net, 0)
	e.setNet(cn)
	e.tk.Vault = vault.NewShortLived(&lastFourFaultyVault{Vault: e.vault, last4: visaN(3)[12:]})
	var b strings.Builder
	b.WriteString(`{"cards":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"number":"` + visaN(i) + `","cvc":"123","exp_month":"12","exp_year":"2030"}`)
	}
	b.WriteString(`]}`)
	in := b.String()
	doc := parseJSON(t, in)

	_, err := e.tk.Apply(context.Background(), arraySet(t, tenantA, false), body.JSON, doc)

	if !errors.Is(err, tokenize.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), visaN(3)) {
		t.Error("error contains the PAN")
	}
	if got := docBytes(t, doc); string(got) != in {
		t.Error("doc edited although a card was not stored")
	}
	if e.cvvs.Len() != 0 {
		t.Errorf("%d CVVs held for a failed request", e.cvvs.Len())
	}
	// Every network token that did not end up in the vault was deleted.
	for _, id := range cn.provisioned {
		if status := tokenStatus(t, e.net, id); status == network.StatusDeleted || status == "" {
			continue
		}
		found := false
		for i := range 6 {
			if rec, err := e.vault.GetByFingerprint(context.Background(), tenantA, e.keys.Fingerprint(tenantA, visaN(i))); err == nil && rec.Network.ID == id {
				found = true
			}
		}
		if !found {
			t.Errorf("network token %s is live but no vault record references it", id)
		}
	}
}

// lastFourFaultyVault fails Put for the card ending in last4.
type lastFourFaultyVault struct {
	vault.Vault
	last4 string
}

func (f *lastFourFaultyVault) Put(ctx context.Context, rec vault.Record) (vault.Record, bool, error) {
	if rec.Last4 == f.last4 {
		return vault.Record{}, false, errors.New("disk on fire")
	}
	return f.Vault.Put(ctx, rec)
}

// TestTokenizeCVVWithoutCardNumber: a CVV that belongs to no card can be held
// for no token and must not reach the merchant, so the request is refused.
func TestTokenizeCVVWithoutCardNumber(t *testing.T) {
	e := newEnv(t)
	in := `{"card":{"cvc":"123","exp_month":"12"}}`
	doc := parseJSON(t, in)
	_, err := e.tk.Apply(context.Background(), cardSet(t, tenantA), body.JSON, doc)
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 400 || fe.Field != "card.cvc" || fe.Code != "missing_card_number" {
		t.Fatalf("err = %v, want a 400 naming card.cvc", err)
	}
	if got := docBytes(t, doc); string(got) != in {
		t.Fatalf("body changed to %s", got)
	}
}

// TestTokenizeRetriesProvisioningAfterTimeout: a card stored vault-only
// because the token service timed out gets its network token the next time
// the customer sends it; the token stays the same.
func TestTokenizeRetriesProvisioningAfterTimeout(t *testing.T) {
	e := newEnv(t)
	set := cardSet(t, tenantA)
	working := e.net
	e.setNet(blockingNet{})
	e.tk.Lifecycle.ProvisionTimeout = 20 * time.Millisecond
	out1, _ := e.apply(t, set, cardJSON(visaPAN, "123", "12", "2030"))
	token := gjson.GetBytes(out1, "card.number").String()
	rec, err := e.vault.Get(context.Background(), tenantA, token)
	if err != nil || rec.Network.Error != "timeout" {
		t.Fatalf("first pass: %+v %v, want a vault-only card with error timeout", rec.Network, err)
	}

	e.setNet(working)
	out2, _ := e.apply(t, set, cardJSON(visaPAN, "", "12", "2030"))
	if got := gjson.GetBytes(out2, "card.number").String(); got != token {
		t.Fatalf("the token changed from %q to %q", token, got)
	}
	rec, err = e.vault.Get(context.Background(), tenantA, token)
	if err != nil || rec.Network.Status != network.StatusActive || rec.Network.ID == "" {
		t.Fatalf("second pass: %+v %v, want an active network token", rec.Network, err)
	}
	secrets, err := e.keys.Open(tenantA, rec.Fingerprint, rec.Token, rec.Sealed)
	if err != nil || secrets.DPAN == "" || secrets.PAN != visaPAN {
		t.Fatalf("sealed secrets lack the DPAN or lost the PAN (err %v)", err)
	}
}
