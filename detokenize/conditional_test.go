package detokenize_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
)

// checkoutSet is a Checkout.com-like source: the merchant's token where the
// card number goes; a network_token source with its token_type by brand
// (none for Amex) or a card source with its CVV.
func checkoutSet(t testing.TB, fallback string) *rules.Outbound {
	t.Helper()
	return outboundSet(t, `outbound:
  cko:
    destinations: ["cko.example:443"]
    fallback: `+fallback+`
    fields:
      - {kind: token, json: source.number, form: number}
      - {kind: exp_month, json: source.expiry_month, form: month, as: integer}
      - {kind: exp_year, json: source.expiry_year, form: year, format: yyyy}
      - {kind: cryptogram, json: source.cryptogram, form: cryptogram, when: network_token}
      - {kind: eci, json: source.eci, form: eci, when: network_token}
      - {kind: cvv, json: source.cvv, form: cvv, when: pan}
      - {kind: constant, json: source.type, form: type, value: network_token, when: network_token}
      - {kind: constant, json: source.type, form: type, value: card, when: pan}
      - {kind: constant, json: source.stored, form: stored, value: true, when: network_token}
      - {kind: brand, json: source.token_type, form: token_type, values: {visa: vts, mastercard: mdes}, when: network_token}
`)
}

const ckoBody = `{"amount":1000,"source":{"number":"%s"}}`

func (e *env) applySet(t *testing.T, set *rules.Outbound, kind body.Kind, in string) ([]byte, detokenize.Result, error) {
	t.Helper()
	doc := parseDoc(t, kind, in)
	res, err := e.d.Apply(context.Background(), tenantA, set, kind, doc)
	if err != nil {
		return nil, res, err
	}
	ct := map[body.Kind]string{body.JSON: "application/json", body.Form: "application/x-www-form-urlencoded"}[kind]
	out, err := res.Body(kind, ct, doc)
	if err != nil {
		t.Fatalf("Body: %v", err)
	}
	return out, res, nil
}

func secretValues(res detokenize.Result) []string {
	var s []string
	for _, x := range res.Secrets {
		s = append(s, x.Value)
	}
	return s
}

func TestConditionalNetworkToken(t *testing.T) {
	for _, tc := range []struct {
		name, pan, tokenType string
		month                int64
		year                 string
	}{
		{"visa", visaPAN, "vts", 12, "2030"},
		{"mastercard", mcPAN, "mdes", 6, "2029"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.issue(t, tenantA, tc.pan, "123")
			out, res, err := e.applySet(t, checkoutSet(t, "pan"), body.JSON, strings.Replace(ckoBody, "%s", c.token, 1))
			if err != nil {
				t.Fatal(err)
			}
			if res.Injections[0].What != detokenize.InjectedNetworkToken {
				t.Fatalf("injection: %+v", res.Injections)
			}
			src := gjson.GetBytes(out, "source")
			if src.Get("number").Str != c.dpan || src.Get("type").Str != "network_token" || src.Get("token_type").Str != tc.tokenType {
				t.Errorf("source: %s", src.Raw)
			}
			if m := src.Get("expiry_month"); m.Type != gjson.Number || m.Int() != tc.month {
				t.Errorf("expiry_month = %s, want the integer %d", m.Raw, tc.month)
			}
			if y := src.Get("expiry_year"); y.Type != gjson.String || y.Str != tc.year {
				t.Errorf("expiry_year = %s, want %q", y.Raw, tc.year)
			}
			if s := src.Get("stored"); s.Type != gjson.True {
				t.Errorf("stored = %s, want true", s.Raw)
			}
			checkCryptogram(t, src.Get("cryptogram").Str)
			if src.Get("cvv").Exists() {
				t.Errorf("a CVV went with the network token")
			}
			if !slices.Contains(secretValues(res), c.dpan) || !slices.Contains(secretValues(res), src.Get("cryptogram").Str) {
				t.Errorf("secrets miss what was sent")
			}
			if _, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, c.token); !ok {
				t.Errorf("the CVV was taken on the network token path")
			}
		})
	}
}

// Amex has no token_type: the card takes the fallback (reason
// brand_not_supported), before a cryptogram is spent; under reject, 422.
func TestConditionalBrandNotSupported(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, amexPAN, "1234")
	out, res, err := e.applySet(t, checkoutSet(t, "pan"), body.JSON, strings.Replace(ckoBody, "%s", c.token, 1))
	if err != nil {
		t.Fatal(err)
	}
	if inj := res.Injections[0]; inj.What != detokenize.InjectedPAN || inj.Reason != detokenize.ReasonBrandNotSupported {
		t.Fatalf("injection: %+v", inj)
	}
	src := gjson.GetBytes(out, "source")
	if src.Get("number").Str != amexPAN || src.Get("type").Str != "card" || src.Get("cvv").Str != "1234" {
		t.Errorf("source is not the card: type %q", src.Get("type").Str)
	}
	for _, k := range []string{"token_type", "cryptogram", "eci", "stored"} {
		if src.Get(k).Exists() {
			t.Errorf("source.%s written on the PAN fallback", k)
		}
	}
	if !slices.Contains(secretValues(res), amexPAN) || !slices.Contains(secretValues(res), "1234") {
		t.Errorf("secrets miss what was sent")
	}

	e = newEnv(t)
	c = e.issue(t, tenantA, amexPAN, "1234")
	_, _, err = e.applySet(t, checkoutSet(t, "reject"), body.JSON, strings.Replace(ckoBody, "%s", c.token, 1))
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 422 || fe.Code != "network_token_unavailable" || !strings.Contains(fe.Reason, "brand_not_supported") {
		t.Fatalf("err = %v", err)
	}
}

// The PAN fallback of a card without a network token, for each brand:
// the card source, with the card's own expiry and the CVV.
func TestConditionalPANFallback(t *testing.T) {
	for _, pan := range []string{visaPAN, mcPAN, amexPAN} {
		e := newEnv(t)
		c := e.issueVaultOnly(t, tenantA, pan, "999", "")
		out, res, err := e.applySet(t, checkoutSet(t, "pan"), body.JSON, strings.Replace(ckoBody, "%s", c.token, 1))
		if err != nil {
			t.Fatal(err)
		}
		if inj := res.Injections[0]; inj.What != detokenize.InjectedPAN {
			t.Fatalf("injection: %+v", inj)
		}
		want := `{"amount":1000,"source":{"number":"` + pan + `","expiry_month":12,"expiry_year":"2030","type":"card","cvv":"999"}}`
		if string(out) != want {
			t.Errorf("%s\n got %s\nwant %s", pan[:1], out, want)
		}
	}
}

// In a form, integers and booleans are text like any value.
func TestConditionalForm(t *testing.T) {
	e := newEnv(t)
	c := e.issue(t, tenantA, visaPAN, "")
	out, _, err := e.applySet(t, checkoutSet(t, "pan"), body.Form, "amount=1000&number="+c.token)
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("number") != c.dpan || q.Get("month") != "12" || q.Get("year") != "2030" || q.Get("type") != "network_token" || q.Get("stored") != "true" || q.Get("token_type") != "vts" {
		t.Errorf("form: type=%s month=%s year=%s stored=%s token_type=%s", q.Get("type"), q.Get("month"), q.Get("year"), q.Get("stored"), q.Get("token_type"))
	}
}

// A brand field written in both cases: its default on both paths; with no
// default, the PAN path answers 422 naming the field, before the CVV is
// taken.
func TestConditionalBrandBothPaths(t *testing.T) {
	set := func(def string) *rules.Outbound {
		return outboundSet(t, `outbound:
  cs:
    destinations: ["cs.example:443"]
    fallback: pan
    fields:
      - {kind: token, json: card.number}
      - {kind: cvv, json: card.cvv}
      - {kind: brand, json: card.type, values: {visa: "001", mastercard: "002"}`+def+`}
`)
	}
	for _, tc := range []struct{ pan, cvv, want string }{{visaPAN, "123", "001"}, {mcPAN, "123", "002"}, {amexPAN, "1234", "xxx"}} {
		for _, vaultOnly := range []bool{false, true} {
			e := newEnv(t)
			var c issued
			if vaultOnly {
				c = e.issueVaultOnly(t, tenantA, tc.pan, tc.cvv, "")
			} else {
				c = e.issue(t, tenantA, tc.pan, tc.cvv)
			}
			out, _, err := e.applySet(t, set(", default: xxx"), body.JSON, `{"card":{"number":"`+c.token+`"}}`)
			if err != nil {
				t.Fatal(err)
			}
			if got := gjson.GetBytes(out, "card.type").Str; got != tc.want {
				t.Errorf("%s: card.type = %q, want %q", tc.pan[:1], got, tc.want)
			}
		}
	}
	e := newEnv(t)
	c := e.issueVaultOnly(t, tenantA, amexPAN, "1234", "")
	_, _, err := e.applySet(t, set(""), body.JSON, `{"card":{"number":"`+c.token+`"}}`)
	var fe *body.FieldError
	if !errors.As(err, &fe) || fe.Status != 422 || fe.Code != "brand_not_supported" || fe.Field != "card.type" || strings.Contains(fe.Error(), "amex") {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := e.cvvs.TakeCVV(context.Background(), tenantA, c.token); !ok {
		t.Errorf("the CVV was spent on a refused request")
	}
	// A network token whose brand has no value takes the PAN fallback.
	e = newEnv(t)
	c = e.issue(t, tenantA, amexPAN, "1234")
	out, res, err := e.applySet(t, set(""), body.JSON, `{"card":{"number":"`+c.token+`"}}`)
	if err == nil || res.Injections != nil {
		t.Fatalf("brand without value on both paths: out %s, err %v", out, err)
	}
}

// Formats: m, yy, as: integer; a number written only for network tokens
// at its own member, the token's member removed, with the token's place for
// the PAN.
func TestConditionalFormatsAndNumberPerCase(t *testing.T) {
	set := outboundSet(t, `outbound:
  p:
    destinations: ["p.example:443"]
    fallback: pan
    fields:
      - {kind: token, json: pm.number}
      - {kind: number, json: pm.token, when: network_token}
      - {kind: remove, json: pm.number, when: network_token}
      - {kind: exp_month, json: pm.m, format: m}
      - {kind: exp_year, json: pm.y, format: yy, as: integer, when: network_token}
      - {kind: exp_year, json: pm.yyyy, format: yyyy, when: pan}
      - {kind: eci, json: pm.eci, as: integer}
`)
	e := newEnv(t)
	c := e.issue(t, tenantA, mcPAN, "")
	out, _, err := e.applySet(t, set, body.JSON, `{"pm":{"number":"`+c.token+`"}}`)
	if err != nil {
		t.Fatal(err)
	}
	// The network token goes to its own member and the token's member,
	// where the PAN goes on the fallback, is removed.
	if want := `{"pm":{"token":"` + c.dpan + `","m":"6","y":29,"eci":7}}`; string(out) != want {
		t.Errorf("network token\n got %s\nwant %s", out, want)
	}
	e = newEnv(t)
	c = e.issueVaultOnly(t, tenantA, mcPAN, "", "")
	out, _, err = e.applySet(t, set, body.JSON, `{"pm":{"number":"`+c.token+`"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"pm":{"number":"` + mcPAN + `","m":"12","yyyy":"2030"}}`; string(out) != want {
		t.Errorf("PAN\n got %s\nwant %s", out, want)
	}
}

// A rule set built in code with a number for one case only (Load gives
// each case one) is refused before the vault is read.
func TestConditionalNumberMissingInOneCase(t *testing.T) {
	set := &rules.Outbound{Name: "code", Fallback: rules.FallbackPAN, MaxCards: 5, Fields: []rules.Field{
		{Kind: rules.KindToken, JSON: "card.number"},
		{Kind: rules.KindNumber, JSON: "card.number", When: rules.WhenNetworkToken},
	}}
	e := newEnv(t)
	c := e.issueVaultOnly(t, tenantA, visaPAN, "", "")
	_, _, err := e.applySet(t, set, body.JSON, `{"card":{"number":"`+c.token+`"}}`)
	var nr *detokenize.NotReplacedError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v", err)
	}
}
