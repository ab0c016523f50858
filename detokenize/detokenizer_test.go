package detokenize_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/errdefs"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/network"
	"github.com/tokengate/tokengate/responseguard"
	"github.com/tokengate/tokengate/vault"
)

func payment(token string) string {
	return `{"amount":1999, "currency":"EUR","card":{"number":"` + token + `","exp_month":"xx","exp_year":"xxxx"},"ref":"order-7"}`
}

// apply detokenizes a body of the given kind for tenant.
func (e *env) apply(t *testing.T, tenant string, kind body.Kind, set string, in string) ([]byte, []detokenize.Injection, error) {
	t.Helper()
	var s = pspSet(t, set)
	doc := parseDoc(t, kind, in)
	res, err := e.d.Apply(context.Background(), tenant, s, kind, doc)
	inj := res.Injections
	return docBytes(t, doc), inj, err
}

// checkCryptogram checks a cryptogram is the standard base64 of 20 bytes.
func checkCryptogram(t *testing.T, c string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(c)
	if len(c) != 28 || err != nil || len(raw) != 20 {
		t.Errorf("cryptogram %q: want 28 base64 characters of 20 bytes (%v)", c, err)
	}
}

func TestDetokenizeActiveNetworkToken(t *testing.T) {
	tests := []struct {
		name, pan, month, year string
	}{
		{"visa: token expires with the card", visaPAN, "12", "2030"},
		{"mastercard: token expires 36 months after provisioning", mcPAN, "06", "2029"},
		{"amex", amexPAN, "12", "2030"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.issue(t, tenantA, tc.pan, "")
			in := payment(c.token)

			out, inj, err := e.apply(t, tenantA, body.JSON, "reject", in)
			if err != nil {
				t.Fatal(err)
			}
			if got := gjson.GetBytes(out, "card.number").String(); got != c.dpan || got == tc.pan {
				t.Errorf("card.number is not the DPAN")
			}
			if m, y := gjson.GetBytes(out, "card.exp_month").String(), gjson.GetBytes(out, "card.exp_year").String(); m != tc.month || y != tc.year {
				t.Errorf("expiry = %s/%s, want the token's %s/%s", m, y, tc.month, tc.year)
			}
			crypt := gjson.GetBytes(out, "card.cryptogram").String()
			checkCryptogram(t, crypt)
			if eci := gjson.GetBytes(out, "card.eci").String(); eci != "07" {
				t.Errorf("eci = %q, want 07", eci)
			}
			for _, p := range []string{"amount", "currency", "ref"} {
				if gjson.GetBytes(out, p).Raw != gjson.Get(in, p).Raw {
					t.Errorf("%s changed", p)
				}
			}
			if !strings.HasPrefix(string(out), `{"amount":1999, "currency":"EUR","card":{"number":"`) || !strings.HasSuffix(string(out), `,"ref":"order-7"}`) {
				t.Errorf("bytes outside the card changed: %s", out)
			}
			if strings.Contains(string(out), tc.pan) {
				t.Error("the PAN was sent although the network token is active")
			}
			want := []detokenize.Injection{{Field: "card.number", What: detokenize.InjectedNetworkToken}}
			if !reflect.DeepEqual(inj, want) {
				t.Errorf("injections = %+v, want %+v", inj, want)
			}

			// Every payment gets a fresh cryptogram for the same DPAN.
			out2, _, err := e.apply(t, tenantA, body.JSON, "reject", in)
			if err != nil {
				t.Fatal(err)
			}
			crypt2 := gjson.GetBytes(out2, "card.cryptogram").String()
			checkCryptogram(t, crypt2)
			if crypt2 == crypt {
				t.Error("two payments got the same cryptogram")
			}
			if gjson.GetBytes(out2, "card.number").String() != c.dpan {
				t.Error("second payment got another number")
			}
		})
	}
}

func TestDetokenizeNetworkTokenKeepsHeldCVV(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "123")
	out, _, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(out, "card.cvc").Exists() {
		t.Error("CVV injected although a cryptogram was sent")
	}
	if cvv, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, c.token); !ok || cvv != "123" {
		t.Error("the held CVV was consumed by a network token payment")
	}
}

func TestDetokenizeRefused(t *testing.T) {
	e := newEnv(t)
	own := e.issue(t, tenantA, visaPAN, "")
	other := e.issue(t, tenantB, mcPAN, "")
	tests := []struct {
		name, token   string
		status        int
		code          string
		secretsToHide []string
	}{
		{"unknown token", "tok_doesnotexist000000000", 403, "unknown_token", nil},
		{"other tenant's token", other.token, 403, "unknown_token", []string{mcPAN, other.dpan}},
		{"a PAN instead of a token", visaPAN, 403, "unknown_token", []string{visaPAN, own.dpan}},
		{"empty token", "", 400, "missing_value", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := payment(tc.token)
			out, inj, err := e.apply(t, tenantA, body.JSON, "pan", in)
			var fe *body.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *body.FieldError", err)
			}
			if fe.Status != tc.status || fe.Code != tc.code || fe.Field != "card.number" {
				t.Errorf("FieldError = %d %s at %q, want %d %s at card.number", fe.Status, fe.Code, fe.Field, tc.status, tc.code)
			}
			if errors.Is(err, detokenize.ErrUnavailable) {
				t.Error("refusal reported as ErrUnavailable")
			}
			for _, s := range tc.secretsToHide {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals card data", err)
				}
			}
			if inj != nil {
				t.Errorf("injections = %+v on error", inj)
			}
			if string(out) != in {
				t.Errorf("body edited on refusal: %s", out)
			}
		})
	}
	// The other tenant's token and an unknown one are indistinguishable.
	_, _, errUnknown := e.apply(t, tenantA, body.JSON, "pan", payment("tok_doesnotexist000000000"))
	_, _, errOther := e.apply(t, tenantA, body.JSON, "pan", payment(other.token))
	if errUnknown.Error() != errOther.Error() {
		t.Errorf("errors differ: %q vs %q", errUnknown, errOther)
	}
}

func TestDetokenizeFallbackPAN(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, e *env, c issued)
		status string // the vault record's network status afterwards
		reason string
	}{
		{"suspended", func(t *testing.T, e *env, c issued) {
			if err := e.net.SetStatus(context.Background(), c.ntID, network.StatusSuspended); err != nil {
				t.Fatal(err)
			}
		}, network.StatusSuspended, "suspended"},
		{"deleted", func(t *testing.T, e *env, c issued) {
			if err := e.net.SetStatus(context.Background(), c.ntID, network.StatusDeleted); err != nil {
				t.Fatal(err)
			}
		}, network.StatusDeleted, "deleted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.issue(t, tenantA, mcPAN, "123")
			tc.setup(t, e, c)

			out, inj, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
			if err != nil {
				t.Fatal(err)
			}
			if got := gjson.GetBytes(out, "card.number").String(); got != mcPAN {
				t.Errorf("card.number is not the PAN")
			}
			if m, y := gjson.GetBytes(out, "card.exp_month").String(), gjson.GetBytes(out, "card.exp_year").String(); m != "12" || y != "2030" {
				t.Errorf("expiry = %s/%s, want the card's 12/2030", m, y)
			}
			if cvv := gjson.GetBytes(out, "card.cvc").String(); cvv != "123" {
				t.Errorf("card.cvc = %q, want the held 123", cvv)
			}
			if gjson.GetBytes(out, "card.cryptogram").Exists() || gjson.GetBytes(out, "card.eci").Exists() {
				t.Error("cryptogram or eci injected with a PAN")
			}
			want := []detokenize.Injection{{Field: "card.number", What: detokenize.InjectedPAN, Reason: tc.reason}}
			if !reflect.DeepEqual(inj, want) {
				t.Errorf("injections = %+v, want %+v", inj, want)
			}
			rec := e.record(t, tenantA, c.token)
			if rec.Network.Status != tc.status {
				t.Errorf("vault network status = %q, want %q", rec.Network.Status, tc.status)
			}
			if rec.Network.ID != c.ntID || rec.ExpYear != "2030" {
				t.Error("noting the status changed other fields of the record")
			}

			// The CVV serves one authorization only.
			out2, inj2, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
			if err != nil {
				t.Fatal(err)
			}
			if gjson.GetBytes(out2, "card.cvc").Exists() {
				t.Error("the CVV was injected twice")
			}
			if gjson.GetBytes(out2, "card.number").String() != mcPAN || !reflect.DeepEqual(inj2, want) {
				t.Errorf("second payment: %+v", inj2)
			}
		})
	}
}

func TestDetokenizeFallbackReasons(t *testing.T) {
	tests := []struct {
		name    string
		vaultOK bool // a card without a network token
		netErr  string
		net     func(e *env) network.Service
		reason  string
	}{
		{name: "card not eligible", vaultOK: true, netErr: "card_not_eligible", reason: "card_not_eligible"},
		{name: "provisioning timed out", vaultOK: true, netErr: "timeout", reason: "timeout"},
		{name: "the issuing token service is not configured", net: func(*env) network.Service { return nil }, reason: "provider_unavailable"},
		{name: "token service failing", net: func(e *env) network.Service { return flakyNet{e.net, errTSPDown} }, reason: "provider_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var c issued
			if tc.vaultOK {
				c = e.issueVaultOnly(t, tenantA, visaPAN, "123", tc.netErr)
			} else {
				c = e.issue(t, tenantA, visaPAN, "123")
			}
			fv := &faultyVault{Vault: e.vault}
			e.d.Vault = fv
			if tc.net != nil {
				e.setNet(tc.net(e))
			}
			out, inj, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
			if err != nil {
				t.Fatal(err)
			}
			if gjson.GetBytes(out, "card.number").String() != visaPAN || gjson.GetBytes(out, "card.cvc").String() != "123" {
				t.Errorf("fallback did not send the PAN and CVV: %s", strings.ReplaceAll(string(out), visaPAN, "<PAN>"))
			}
			want := []detokenize.Injection{{Field: "card.number", What: detokenize.InjectedPAN, Reason: tc.reason}}
			if !reflect.DeepEqual(inj, want) {
				t.Errorf("injections = %+v, want %+v", inj, want)
			}
			if n := fv.updates.Load(); n != 0 {
				t.Errorf("vault updated %d times; a transient failure is not a lifecycle change", n)
			}
		})
	}
}

func TestDetokenizeFallbackReject(t *testing.T) {
	tests := []struct {
		name  string
		issue func(t *testing.T, e *env) issued
	}{
		{"suspended", func(t *testing.T, e *env) issued {
			c := e.issue(t, tenantA, visaPAN, "123")
			if err := e.net.SetStatus(context.Background(), c.ntID, network.StatusSuspended); err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"no network token", func(t *testing.T, e *env) issued {
			return e.issueVaultOnly(t, tenantA, visaPAN, "123", "card_not_eligible")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := tc.issue(t, e)
			in := payment(c.token)
			out, _, err := e.apply(t, tenantA, body.JSON, "reject", in)
			var fe *body.FieldError
			if !errors.As(err, &fe) || fe.Status != 422 || fe.Code != "network_token_unavailable" || fe.Field != "card.number" {
				t.Fatalf("err = %#v, want 422 network_token_unavailable at card.number", err)
			}
			if strings.Contains(err.Error(), visaPAN) {
				t.Error("error reveals the PAN")
			}
			if string(out) != in {
				t.Errorf("body edited on refusal")
			}
			if _, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, c.token); !ok {
				t.Error("a refused request consumed the held CVV")
			}
		})
	}
}

func TestDetokenizeArrays(t *testing.T) {
	e := newEnv(t)
	cards := []issued{
		e.issue(t, tenantA, visaPAN, "111"),
		e.issue(t, tenantA, mcPAN, "222"),
		e.issue(t, tenantA, amexPAN, "3333"),
	}
	if err := e.net.SetStatus(context.Background(), cards[1].ntID, network.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	in := `{"cards":[{"token":"` + cards[0].token + `"},{"token":"` + cards[1].token + `","exp_month":"01"},{"token":"` + cards[2].token + `"}],"n":3}`
	doc := parseDoc(t, body.JSON, in)

	res, err := e.d.Apply(context.Background(), tenantA, arraySet(t, "pan"), body.JSON, doc)
	inj := res.Injections
	if err != nil {
		t.Fatal(err)
	}
	out := docBytes(t, doc)

	want := []detokenize.Injection{
		{Field: "cards.0.token", What: detokenize.InjectedNetworkToken},
		{Field: "cards.1.token", What: detokenize.InjectedPAN, Reason: "suspended"},
		{Field: "cards.2.token", What: detokenize.InjectedNetworkToken},
	}
	if !reflect.DeepEqual(inj, want) {
		t.Errorf("injections = %+v, want %+v", inj, want)
	}
	get := func(p string) gjson.Result { return gjson.GetBytes(out, p) }
	for _, i := range []string{"0", "2"} {
		c := cards[map[string]int{"0": 0, "2": 2}[i]]
		if get("cards."+i+".number").String() != c.dpan {
			t.Errorf("cards.%s.number is not card %s's DPAN", i, i)
		}
		checkCryptogram(t, get("cards."+i+".cryptogram").String())
		if get("cards."+i+".eci").String() != "07" || get("cards."+i+".exp_year").String() != "2030" {
			t.Errorf("cards.%s: eci %q, exp_year %q", i, get("cards."+i+".eci").String(), get("cards."+i+".exp_year").String())
		}
		if get("cards." + i + ".cvc").Exists() {
			t.Errorf("cards.%s.cvc injected with a network token", i)
		}
		if get("cards."+i+".token").String() != c.token {
			t.Errorf("cards.%s.token changed", i)
		}
	}
	if get("cards.1.number").String() != mcPAN || get("cards.1.cvc").String() != "222" ||
		get("cards.1.exp_month").String() != "12" || get("cards.1.exp_year").String() != "2030" {
		t.Errorf("cards.1 did not get its own PAN, CVV and card expiry")
	}
	if get("cards.1.cryptogram").Exists() || get("cards.1.eci").Exists() {
		t.Error("cards.1 got a cryptogram on PAN fallback")
	}
	if get("cards.0.cryptogram").String() == get("cards.2.cryptogram").String() {
		t.Error("two cards share a cryptogram")
	}
	if get("n").Raw != "3" || len(get("cards").Array()) != 3 {
		t.Errorf("array reshaped: %s", get("cards").Raw)
	}
}

func TestDetokenizeTokenAbsent(t *testing.T) {
	e := newEnv(t)
	none := func(field string) []detokenize.Injection {
		return []detokenize.Injection{{Field: field, What: detokenize.InjectedNone, Reason: "absent"}}
	}
	tests := []struct {
		name  string
		array bool
		kind  body.Kind
		in    string
		want  []detokenize.Injection
	}{
		{"json", false, body.JSON, `{"amount":1999,"card":{"exp_month":"12"}}`, none("card.number")},
		{"json array", true, body.JSON, `{"amount":1999}`, none("cards.#.token")},
		{"json empty array", true, body.JSON, `{"cards":[]}`, none("cards.#.token")},
		{"form", false, body.Form, `amount=1999&card_exp_month=12`, none("card_number")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := pspSet(t, "pan")
			if tc.array {
				set = arraySet(t, "pan")
			}
			doc := parseDoc(t, tc.kind, tc.in)
			res, err := e.d.Apply(context.Background(), tenantA, set, tc.kind, doc)
			inj := res.Injections
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inj, tc.want) {
				t.Errorf("injections = %+v, want %+v", inj, tc.want)
			}
			if got := docBytes(t, doc); string(got) != tc.in {
				t.Errorf("body changed: %s", got)
			}
		})
	}
}

func TestDetokenizeForm(t *testing.T) {
	e := newEnv(t)
	active := e.issue(t, tenantA, mcPAN, "")
	suspended := e.issue(t, tenantA, visaPAN, "123")
	if err := e.net.SetStatus(context.Background(), suspended.ntID, network.StatusSuspended); err != nil {
		t.Fatal(err)
	}

	in := "amount=1999&card_number=" + active.token + "&card_exp_month=xx&card_exp_year=xxxx&ref=a%26b"
	out, inj, err := e.apply(t, tenantA, body.Form, "pan", in)
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("card_number") != active.dpan || q.Get("card_exp_month") != "06" || q.Get("card_exp_year") != "2029" || q.Get("card_eci") != "07" {
		t.Errorf("form fields: number=DPAN? %v, exp %s/%s, eci %s", q.Get("card_number") == active.dpan, q.Get("card_exp_month"), q.Get("card_exp_year"), q.Get("card_eci"))
	}
	checkCryptogram(t, q.Get("card_cryptogram"))
	if !strings.HasPrefix(string(out), "amount=1999&card_number=") || !strings.Contains(string(out), "&ref=a%26b") {
		t.Errorf("untouched fields changed: %s", out)
	}
	if want := []detokenize.Injection{{Field: "card_number", What: detokenize.InjectedNetworkToken}}; !reflect.DeepEqual(inj, want) {
		t.Errorf("injections = %+v", inj)
	}

	out, inj, err = e.apply(t, tenantA, body.Form, "pan", "card_number="+suspended.token+"&card_cvc=")
	if err != nil {
		t.Fatal(err)
	}
	q, _ = url.ParseQuery(string(out))
	if q.Get("card_number") != visaPAN || q.Get("card_cvc") != "123" || q.Get("card_exp_month") != "12" || q.Has("card_cryptogram") {
		t.Errorf("form PAN fallback: cvc %q, exp %q, cryptogram %v", q.Get("card_cvc"), q.Get("card_exp_month"), q.Has("card_cryptogram"))
	}
	if want := []detokenize.Injection{{Field: "card_number", What: detokenize.InjectedPAN, Reason: "suspended"}}; !reflect.DeepEqual(inj, want) {
		t.Errorf("injections = %+v", inj)
	}

	_, _, err = e.apply(t, tenantA, body.Form, "pan", "card_number=tok_unknown")
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 403 || fe.Code != "unknown_token" || fe.Field != "card_number" {
		t.Errorf("unknown form token: err = %v", err)
	}
}

// TestDetokenizeFormRepeatedFields: body.Value documents that repeated form
// fields group like JSON array elements ("0", "1", ...), and tokenize
// handles them that way inbound.
func TestDetokenizeFormRepeatedFields(t *testing.T) {
	e := newEnv(t)
	c0 := e.issue(t, tenantA, visaPAN, "")
	c1 := e.issue(t, tenantA, mcPAN, "")
	out, _, err := e.apply(t, tenantA, body.Form, "reject", "card_number="+c0.token+"&card_number="+c1.token)
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := q["card_number"]; len(got) != 2 || got[0] != c0.dpan || got[1] != c1.dpan {
		t.Errorf("card_number values: first is card 0's DPAN %v, second is card 1's DPAN %v (%d values)",
			len(got) > 0 && got[0] == c0.dpan, len(got) > 1 && got[1] == c1.dpan, len(got))
	}
	if strings.Contains(string(out), c1.token) {
		t.Error("card 1's token is forwarded unchanged")
	}
	if len(q["card_cryptogram"]) != 2 {
		t.Errorf("%d card_cryptogram values, want one per card", len(q["card_cryptogram"]))
	}
}

// TestDetokenizeResumedTokenStatus: noteFailure records lifecycle changes in
// the vault "so later requests and operators see it"; a token that comes
// back (SUSPENDED -> ACTIVE) must not stay SUSPENDED there forever.
func TestDetokenizeResumedTokenStatus(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")
	ctx := context.Background()
	if err := e.net.SetStatus(ctx, c.ntID, network.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token)); err != nil {
		t.Fatal(err)
	}
	if err := e.net.SetStatus(ctx, c.ntID, network.StatusActive); err != nil {
		t.Fatal(err)
	}
	_, inj, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
	if err != nil || len(inj) != 1 || inj[0].What != detokenize.InjectedNetworkToken {
		t.Fatalf("resumed token not used: %+v %v", inj, err)
	}
	if st := e.record(t, tenantA, c.token).Network.Status; st != network.StatusActive {
		t.Errorf("vault network status = %q after a successful cryptogram, want ACTIVE", st)
	}
}

func TestDetokenizeUnavailable(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")

	t.Run("vault down", func(t *testing.T) {
		e.d.Vault = &faultyVault{Vault: e.vault, getErr: errors.New("disk on fire")}
		defer func() { e.d.Vault = e.vault }()
		_, _, err := e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
		var fe *body.FieldError
		if !errors.Is(err, detokenize.ErrUnavailable) || errors.As(err, &fe) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("wrong keys", func(t *testing.T) {
		data, err := keys.GenerateKeyset(nil)
		if err != nil {
			t.Fatal(err)
		}
		other, err := keys.Parse(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.d.Keys = other
		defer func() { e.d.Keys = e.keys }()
		_, _, err = e.apply(t, tenantA, body.JSON, "pan", payment(c.token))
		// Not ErrUnavailable: nothing is down; the record cannot be opened.
		var ur *detokenize.UnreadableError
		if !errors.As(err, &ur) || !errors.Is(err, errdefs.ErrUnreadable) || errors.Is(err, detokenize.ErrUnavailable) ||
			ur.Reason() != "other_keyset" || ur.KeyID != e.keys.PrimaryKeyID() || other.HasKeyID(ur.KeyID) {
			t.Errorf("err = %v, want an UnreadableError naming the key that sealed it", err)
		}
		if err != nil && (strings.Contains(err.Error(), visaPAN) || strings.Contains(err.Error(), c.dpan)) {
			t.Error("error reveals card data")
		}
	})
	t.Run("record moved to another tenant", func(t *testing.T) {
		rec := e.record(t, tenantA, c.token)
		rec.Tenant = tenantB
		if _, _, err := e.vault.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.apply(t, tenantB, body.JSON, "pan", payment(c.token))
		var ur *detokenize.UnreadableError
		if !errors.As(err, &ur) || ur.Reason() != "altered_or_moved" {
			t.Errorf("err = %v, want an UnreadableError, altered or moved (sealed data bound to its tenant)", err)
		}
	})
}

// TestDetokenizeSecretsForTheResponseGuard checks Apply lists every value it
// put in the body, with what the response guard puts back in its place.
func TestDetokenizeSecretsForTheResponseGuard(t *testing.T) {
	e := newEnv(t)
	active := e.issue(t, tenantA, visaPAN, "")
	res, err := e.d.Apply(context.Background(), tenantA, pspSet(t, "pan"), body.JSON, parseDoc(t, body.JSON, payment(active.token)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Secrets) != 2 || res.Secrets[0].Value != active.dpan || res.Secrets[0].With != active.token ||
		res.Secrets[1].With != responseguard.Mask || len(res.Secrets[1].Value) != 28 {
		t.Errorf("network token secrets: %d, want the DPAN as the token and the cryptogram masked", len(res.Secrets))
	}

	fallback := e.issue(t, tenantA, mcPAN, "123")
	if err := e.net.SetStatus(context.Background(), fallback.ntID, network.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	res, err = e.d.Apply(context.Background(), tenantA, pspSet(t, "pan"), body.JSON, parseDoc(t, body.JSON, payment(fallback.token)))
	if err != nil {
		t.Fatal(err)
	}
	want := []responseguard.Secret{{Value: mcPAN, With: fallback.token}, {Value: "123", With: responseguard.Mask, Whole: true}}
	if !reflect.DeepEqual(res.Secrets, want) {
		t.Errorf("fallback secrets differ (%d of them)", len(res.Secrets))
	}
}

// movedVault answers every tenant's lookups with the records of one tenant,
// as a vault file whose records were copied into another tenant's bucket.
type movedVault struct {
	vault.Vault
	from    string
	rewrite bool // also rewrite the record's tenant field to the caller's
}

func (m movedVault) Get(ctx context.Context, tenant, token string) (vault.Record, error) {
	rec, err := m.Vault.Get(ctx, m.from, token)
	if m.rewrite {
		rec.Tenant = tenant
	}
	return rec, err
}

// TestDetokenizeTenantBinding: a record copied into another tenant's bucket
// never detokenizes for that tenant, whatever its tenant field says.
func TestDetokenizeTenantBinding(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")
	var told []string
	e.d.Tampered = func(_ context.Context, tenant, field string) { told = append(told, tenant+" "+field) }

	e.d.Vault = movedVault{Vault: e.vault, from: tenantA}
	_, _, err := e.apply(t, tenantB, body.JSON, "pan", payment(c.token))
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 403 || fe.Code != "unknown_token" {
		t.Errorf("moved record: %v, want 403 unknown_token", err)
	}

	e.d.Vault = movedVault{Vault: e.vault, from: tenantA, rewrite: true}
	out, _, err := e.apply(t, tenantB, body.JSON, "pan", payment(c.token))
	var ur *detokenize.UnreadableError
	if !errors.As(err, &ur) || !ur.KeyHeld || strings.Contains(string(out), c.dpan) || strings.Contains(string(out), visaPAN) {
		t.Errorf("moved record with its tenant rewritten: %v, want an UnreadableError (altered or moved) and no card data", err)
	}
	if len(told) != 1 { // the second is Apply's error, which its caller logs
		t.Errorf("tampering reported %d times, want 1", len(told))
	}
}
