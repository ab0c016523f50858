package explain_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/rules/explain"
)

const (
	testRules   = "../../caddymodule/testdata/rules.yaml"
	exampleFile = "../../rules.example.yaml"
	formType    = "application/x-www-form-urlencoded"
	visaPAN     = "4111111111111111"
)

func load(t *testing.T, path string) *rules.File {
	t.Helper()
	f, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func run(t *testing.T, f *rules.File, set, body string, o explain.Options) *explain.Report {
	t.Helper()
	r, err := explain.Explain(context.Background(), f, set, []byte(body), o)
	if err != nil {
		t.Fatalf("Explain %s: %v", set, err)
	}
	return r
}

func changeList(c explain.Case) string {
	var b strings.Builder
	for _, ch := range c.Changes {
		b.WriteString(ch.Op + " " + ch.Path)
		if ch.Value != "" {
			b.WriteString("=" + ch.Value)
		}
		b.WriteString("; ")
	}
	return b.String()
}

const ckoBody = `{"amount":1000,"currency":"EUR","source":{"number":"tok_merchant123"}}`

// TestOutboundCheckoutCom: the cko set (brand, when, constant, as) gives
// the network_token source for Visa and Mastercard with their token_type,
// the card source on the PAN fallback, and for Amex (no token_type) the
// card source in both cases, saying why.
func TestOutboundCheckoutCom(t *testing.T) {
	f := load(t, testRules)
	const panCase = `{"amount":1000,"currency":"EUR","source":{"number":"<pan>","expiry_month":3,"expiry_year":2034,"type":"card","cvv":"<cvv>"}}`
	for _, tc := range []struct{ brand, nt string }{
		{"visa", `{"amount":1000,"currency":"EUR","source":{"number":"<network_token>","expiry_month":8,"expiry_year":2033,"cryptogram":"<cryptogram>","eci":"07","type":"network_token","token_type":"vts"}}`},
		{"mastercard", `{"amount":1000,"currency":"EUR","source":{"number":"<network_token>","expiry_month":8,"expiry_year":2033,"cryptogram":"<cryptogram>","eci":"07","type":"network_token","token_type":"mdes"}}`},
		{"amex", panCase},
	} {
		t.Run(tc.brand, func(t *testing.T) {
			r := run(t, f, "cko", ckoBody, explain.Options{Brand: tc.brand})
			if r.Direction != "outbound" || len(r.Cases) != 2 || r.Cases[0].Name != explain.CaseNetworkToken || r.Cases[1].Name != explain.CasePAN {
				t.Fatalf("report: %+v", r)
			}
			nt, pan := r.Cases[0], r.Cases[1]
			if nt.Body != tc.nt {
				t.Errorf("network token case:\n got %s\nwant %s", nt.Body, tc.nt)
			}
			if pan.Body != panCase {
				t.Errorf("PAN case:\n got %s\nwant %s", pan.Body, panCase)
			}
			want := detokenize.Injection{Field: "source.number", What: detokenize.InjectedNetworkToken}
			if tc.brand == "amex" {
				want = detokenize.Injection{Field: "source.number", What: detokenize.InjectedPAN, Reason: detokenize.ReasonBrandNotSupported}
				if len(nt.Notes) != 1 || !strings.Contains(nt.Notes[0], "brand_not_supported") {
					t.Errorf("amex: notes %q", nt.Notes)
				}
			}
			if len(nt.Injections) != 1 || nt.Injections[0] != want {
				t.Errorf("network token case injections %+v, want %+v", nt.Injections, want)
			}
			if len(pan.Injections) != 1 || pan.Injections[0] != (detokenize.Injection{Field: "source.number", What: detokenize.InjectedPAN, Reason: "no_network_token"}) {
				t.Errorf("PAN case injections %+v", pan.Injections)
			}
			if got := changeList(pan); got != "replaced source.number=\"<pan>\"; added source.expiry_month=3; added source.expiry_year=2034; added source.type=\"card\"; added source.cvv=\"<cvv>\"; " {
				t.Errorf("PAN case changes: %s", got)
			}
		})
	}
}

// TestOutboundHeader: the Header option renders the injections.
func TestOutboundHeader(t *testing.T) {
	r := run(t, load(t, testRules), "cko", ckoBody, explain.Options{Brand: "amex", Header: func(in []detokenize.Injection) string {
		return in[0].Field + "=" + in[0].What + ";reason=" + in[0].Reason
	}})
	if r.Cases[0].Injected != "source.number=pan;reason=brand_not_supported" {
		t.Errorf("header %q", r.Cases[0].Injected)
	}
}

// TestOutboundForm: a form body gets the values in place, readable.
func TestOutboundForm(t *testing.T) {
	r := run(t, load(t, testRules), "guarded", "amount=100&card_number=tok_a&card_exp_month=&card_exp_year=", explain.Options{ContentType: formType})
	if got := r.Cases[0].Body; got != "amount=100&card_number=<network_token>&card_exp_month=08&card_exp_year=2033&card_cryptogram=<cryptogram>&card_eci=07" {
		t.Errorf("network token case: %s", got)
	}
	if got := r.Cases[1].Body; got != "amount=100&card_number=<pan>&card_exp_month=03&card_exp_year=2034&card_cvc=<cvv>" {
		t.Errorf("PAN case: %s", got)
	}
}

// TestOutboundReject: a set whose fallback is reject shows the refusal.
func TestOutboundReject(t *testing.T) {
	r := run(t, load(t, testRules), "strict", `{"payment_method":{"token":"tok_1"}}`, explain.Options{})
	if r.Cases[0].Refused != "" || gjson.Get(r.Cases[0].Body, "payment_method.card.number").Str != "<network_token>" {
		t.Errorf("network token case: %+v", r.Cases[0])
	}
	if c := r.Cases[1]; !strings.Contains(c.Refused, "422") || !strings.Contains(c.Refused, "network_token_unavailable") || c.Body != "" {
		t.Errorf("PAN case: %+v", c)
	}
}

// TestOutboundGuard: the guard given is run under the set's pan_guard:
// reject refuses both cases, log notes the place, off does not look.
func TestOutboundGuard(t *testing.T) {
	f := load(t, testRules)
	calls := 0
	guard := func(*rules.Outbound, body.Kind, body.Doc) (string, bool) { calls++; return "note", true }
	r := run(t, f, "cko", ckoBody, explain.Options{OutboundGuard: guard})
	for _, c := range r.Cases {
		if !strings.HasPrefix(c.Refused, `400 field "note"`) || !strings.Contains(c.Refused, "pan_detected") {
			t.Errorf("reject: %+v", c)
		}
	}
	r = run(t, f, "logging_out", `{"card":{"number":"tok_1"}}`, explain.Options{OutboundGuard: guard})
	if c := r.Cases[0]; c.Refused != "" || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "pan_guard: log") {
		t.Errorf("log: %+v", c)
	}
	calls = 0
	run(t, f, "guarded", `{"card":{"number":"tok_1"}}`, explain.Options{OutboundGuard: guard})
	if calls != 0 {
		t.Errorf("pan_guard off: the guard ran")
	}
}

// TestInbound: the merchant gets <token> and no CVV; a kept CVV is masked;
// several cards get numbered tokens (the same card the same token); a
// stray number under pan_guard tokenize is tokenized where it is.
func TestInbound(t *testing.T) {
	f := load(t, testRules)
	r := run(t, f, "checkout", `{"card":{"number":"`+visaPAN+`","cvc":"123","exp_month":"12","exp_year":"2030","name":"J Doe"}}`, explain.Options{})
	c := r.Cases[0]
	if r.Direction != "inbound" || c.Body != `{"card":{"number":"<token>","exp_month":"12","exp_year":"2030","name":"J Doe"}}` {
		t.Errorf("checkout: %s", c.Body)
	}
	if got := changeList(c); got != `replaced card.number="<token>"; removed card.cvc; ` {
		t.Errorf("checkout changes: %s", got)
	}

	r = run(t, f, "degraded", "card_number="+visaPAN+"&card_cvc=123", explain.Options{ContentType: formType})
	if got := r.Cases[0].Body; got != "card_number=<token>&card_cvc=%2A%2A%2A" && got != "card_number=<token>&card_cvc=***" {
		t.Errorf("degraded: %s", got)
	}

	r = run(t, f, "bulk", `{"cards":[{"number":"`+visaPAN+`","cvc":"123"},{"number":"5555555555554444","cvc":"321"},{"number":"`+visaPAN+`","cvc":"123"}]}`, explain.Options{})
	if got := r.Cases[0].Body; got != `{"cards":[{"number":"<token_1>","cvc":"***"},{"number":"<token_2>","cvc":"***"},{"number":"<token_1>","cvc":"***"}]}` {
		t.Errorf("bulk: %s", got)
	}

	r = run(t, f, "lenient", `{"card":{"number":"`+visaPAN+`"},"note":"card 5555555555554444"}`, explain.Options{})
	if got := r.Cases[0].Body; got != `{"card":{"number":"<token_1>"},"note":"card <token_2>"}` {
		t.Errorf("lenient: %s", got)
	}

	// Without consent the card is short-lived: a token all the same.
	r = run(t, f, "noconsent", `{"card":{"number":"`+visaPAN+`","exp_month":"01","exp_year":"2039"}}`, explain.Options{})
	if got := r.Cases[0].Body; got != `{"card":{"number":"<token>","exp_month":"01","exp_year":"2039"}}` {
		t.Errorf("noconsent: %s", got)
	}

	// A network_token token format gives the DPAN, shown as a token.
	nt, err := rules.Parse("nt.yaml", []byte("inbound:\n  nt:\n    token_format: network_token\n    fields:\n      - {kind: pan, json: n}\n      - {kind: exp_month, json: m}\n      - {kind: exp_year, json: y}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, nt, "nt", `{"n":"`+visaPAN+`","m":"12","y":"2030"}`, explain.Options{})
	if got := r.Cases[0].Body; got != `{"n":"<token>","m":"12","y":"2030"}` || !strings.Contains(r.Cases[0].Notes[0], "1 with a network token") {
		t.Errorf("network_token format: %s %q", got, r.Cases[0].Notes)
	}

	r = run(t, f, "logging", `{"card":{"number":"`+visaPAN+`"},"note":"5555555555554444"}`, explain.Options{})
	if c := r.Cases[0]; len(c.Notes) != 2 || !strings.Contains(c.Notes[1], "note") {
		t.Errorf("logging: notes %q", c.Notes)
	}
}

// TestErrors: what cannot be explained is a clear error that names the
// field or the choice, never a value.
func TestErrors(t *testing.T) {
	f := load(t, testRules)
	for _, tc := range []struct {
		set, body string
		o         explain.Options
		want      string
	}{
		{"nope", `{}`, explain.Options{}, `no rule set "nope"`},
		{"cko", ckoBody, explain.Options{Brand: "bogus"}, `brand "bogus": want one of amex, diners`},
		{"cko", ckoBody, explain.Options{ContentType: "text/plain"}, `content type "text/plain"`},
		{"cko", `{"source":`, explain.Options{}, "does not parse"},
		{"checkout", `{"card":{"number":"4111111111111112","cvc":"987"}}`, explain.Options{}, `"card.number"`},
		{"checkout", `{"card":{"number":"` + visaPAN + `","cvc":"98765","exp_month":"12","exp_year":"2030"}}`, explain.Options{}, `"card.cvc"`},
	} {
		_, err := explain.Explain(context.Background(), f, tc.set, []byte(tc.body), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err %v, want %q", tc.set, tc.body, err, tc.want)
			continue
		}
		for _, secret := range []string{"411111111111111", "987"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows a value: %v", err)
			}
		}
	}
}

// TestExampleSets: every set of rules.example.yaml explains a body in the
// shape its fields name, and the text output has each case's section.
func TestExampleSets(t *testing.T) {
	f := load(t, exampleFile)
	bodies := map[string]string{
		"checkout": `{"card":{"number":"` + visaPAN + `","cvc":"123","exp_month":"12","exp_year":"2030","name":"J Doe","save":true}}`,
		"psp":      `{"amount":1000,"card":{"number":"tok_x"}}`,
		"cko":      ckoBody,
	}
	for _, s := range f.Inbound {
		r := run(t, f, s.Name, bodies[s.Name], explain.Options{})
		if strings.Contains(r.Cases[0].Body, visaPAN) || !strings.Contains(r.Cases[0].Body, "<token>") {
			t.Errorf("%s: %s", s.Name, r.Cases[0].Body)
		}
	}
	for _, s := range f.Outbound {
		r := run(t, f, s.Name, bodies[s.Name], explain.Options{Brand: "mastercard"})
		var text bytes.Buffer
		if err := r.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"with a network token ==", "PAN fallback", "<network_token>", "<pan>", "fields touched:"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("%s: no %q in\n%s", s.Name, want, text.String())
			}
		}
	}
}
