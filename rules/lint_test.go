package rules

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// want is a finding reduced to what a test pins: where, how bad, which set,
// and a phrase of the message.
type want struct {
	line     int
	severity Severity
	set      string
	phrase   string
}

// lintTestdata lints testdata/lint/<name> and compares its findings.
func lintTestdata(t *testing.T, name string, wants ...want) []Finding {
	t.Helper()
	path := filepath.Join("testdata", "lint", name)
	got, err := LintFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wants) {
		t.Fatalf("%s: %d findings, want %d:\n%s", name, len(got), len(wants), findingsText(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Path != path || g.Line != w.line || g.Severity != w.severity || g.Set != w.set || !strings.Contains(g.Message, w.phrase) {
			t.Errorf("%s: finding %d = %s\nwant line %d, %s, set %q, containing %q", name, i, g, w.line, w.severity, w.set, w.phrase)
		}
	}
	return got
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

// TestLintHalfMappedOutbound: the rule set that sent tok_... where the
// number belongs, while Tokengate-Injected said network_token, is the
// parser's refusal (checkInjected); lint reports it once, at the parser's
// file:line and in its words.
func TestLintHalfMappedOutbound(t *testing.T) {
	got := lintTestdata(t, "half_outbound_bad.yaml", want{9, SeverityError, "", "in a form body the token would be found and no card number would be written"})
	_, err := Load(filepath.Join("testdata", "lint", "half_outbound_bad.yaml"))
	var e *Error
	if !errors.As(err, &e) || e.Line != got[0].Line || e.Msg != got[0].Message {
		t.Fatalf("load says %v, lint says %s", err, got[0])
	}
}

// TestLintHalfMappedInbound: a CVV or consent (with consent_default true)
// mapped for one body kind of the pan's is an error; an expiry, or a
// consent under consent_default false, is a warning.
func TestLintHalfMappedInbound(t *testing.T) {
	lintTestdata(t, "half_inbound_bad.yaml",
		want{6, SeverityError, "checkout", "cvv field has json but not form"},
		want{7, SeverityWarning, "checkout", "in a JSON body the card number is tokenized and its exp_month is not read, so the card is kept without it"},
		want{9, SeverityError, "checkout", "a customer's refusal would keep the card"},
		want{15, SeverityWarning, "optout", "consent_default (false) applies"},
	)
	lintTestdata(t, "half_good.yaml")
}

// TestLintUnreachable: a set an earlier one covers, by methods and by
// every path pattern, in both directions.
func TestLintUnreachable(t *testing.T) {
	lintTestdata(t, "unreachable_bad.yaml",
		want{6, SeverityWarning, "checkout_pay", "unreachable in file order: set all_checkout (line 2)"},
		want{15, SeverityWarning, "payments", "unreachable in file order: set any (line 11)"},
	)
	lintTestdata(t, "unreachable_good.yaml")
}

// TestLintOverlap: two inbound sets that share a request, with an example
// request and the winner.
func TestLintOverlap(t *testing.T) {
	lintTestdata(t, "overlap_bad.yaml",
		want{6, SeverityWarning, "json_files", "a request such as PUT /api/x.json matches both, and api wins"})
	lintTestdata(t, "overlap_good.yaml")
}

// TestLintExamples: the shipped example rules lint clean.
func TestLintExamples(t *testing.T) {
	for _, p := range []string{"../rules.example.yaml", "testdata/example.yaml", "../caddymodule/testdata/rules.yaml"} {
		got, err := LintFile(p)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %v\n%s", p, err, findingsText(got))
		}
	}
}

// TestLintError: the load's verdict names the first error's file:line and
// counts the others; warnings alone pass.
func TestLintError(t *testing.T) {
	fs := []Finding{
		{Path: "r.yaml", Line: 3, Severity: SeverityWarning, Set: "a", Message: "w"},
		{Path: "r.yaml", Line: 5, Severity: SeverityError, Set: "b", Message: "e1"},
		{Path: "r.yaml", Line: 9, Severity: SeverityError, Set: "c", Message: "e2"},
	}
	if err := LintError(fs[:1]); err != nil {
		t.Fatalf("warnings refused: %v", err)
	}
	err := LintError(fs)
	if err == nil || !strings.HasPrefix(err.Error(), "r.yaml:5: set b: e1 (and 1 more errors") {
		t.Fatalf("got %v", err)
	}
	if s := fs[1].String(); s != "r.yaml:5: error: set b: e1" {
		t.Fatalf("String = %q", s)
	}
}

// TestCoversPattern pins the path reasoning against Caddy's matcher
// semantics: yes only with a proof.
func TestCoversPattern(t *testing.T) {
	for _, c := range []struct {
		e, l string
		want bool
	}{
		{"*", "/x", true},
		{"/a", "/a", true},
		{"/a/*", "/a/b", true},
		{"/a/*", "/a/b/*", true},
		{"/a/*", "/a/*/c", true},
		{"/a/*", "/a", false},
		{"/a/*", "*.json", false},
		{"*.json", "/a/b.json", true},
		{"*.json", "/a/*.json", true},
		{"*.json", "/a/*", false},
		{"*pay*", "/v1/pay/*", true},
		{"*pay*", "*/pay/*", true},
		{"*pay*", "/v1/*", false},
		{"/a/*/c", "/a/b/c", true},
		{"/a/*/c", "/a/*/c/*", false},
		{"/a/b", "*", false},
		{"/a%40/*", "/a%40/b", false}, // compared escaped: never a proof
		{"/a/*", "/a//b", false},      // cleaned differently: never a proof
		{"/[ab]/*", "/a/x", false},    // one trailing star: Caddy reads a prefix, brackets and all
		{"/[ab]/*/c", "/a/x/c", true},
		{"*x", "/a[x]", false},
	} {
		if got := coversPattern(c.e, c.l); got != c.want {
			t.Errorf("coversPattern(%q, %q) = %v, want %v", c.e, c.l, got, c.want)
		}
	}
}

// TestOverlapWitness: the example request matches both, or none is claimed.
func TestOverlapWitness(t *testing.T) {
	for _, c := range []struct {
		a, b Match
		want string
	}{
		{Match{}, Match{}, "any method /x"},
		{Match{Methods: []string{"POST"}}, Match{Paths: []string{"/a"}}, "POST /a"},
		{Match{Paths: []string{"/a/*"}}, Match{Paths: []string{"*/b"}}, "any method /a/x/b"},
		{Match{Paths: []string{"*pay*"}}, Match{Paths: []string{"/v1/*"}}, "any method /v1/pay"},
		{Match{Methods: []string{"GET"}}, Match{Methods: []string{"POST"}}, ""},
		{Match{Paths: []string{"/a/*"}}, Match{Paths: []string{"/b/*"}}, ""},
		{Match{Paths: []string{"*.json"}}, Match{Paths: []string{"*.xml"}}, ""},
	} {
		got, ok := overlapWitness(c.a, c.b)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("overlapWitness(%v, %v) = %q, %v; want %q", c.a, c.b, got, ok, c.want)
		}
	}
}

// TestLintNil: a nil or empty file has nothing to say.
func TestLintNil(t *testing.T) {
	if got := Lint(nil); got != nil {
		t.Fatal(got)
	}
	if got := Lint(&File{}); !reflect.DeepEqual(got, []Finding(nil)) {
		t.Fatal(got)
	}
}

// TestLintPresetContradictions: a field that replaces a preset's field and
// undoes it is an error at its line, naming the field and the preset's
// rule: a discriminator value the case cannot take, a type, expiry format
// or enum value the processor's schema refuses, a replacement of another
// kind (the PAN fallback's CVV removed), the token moved from the place
// the preset's fields are written around. A preset that signs (cybersource)
// lints with its secret only named; preset_good.yaml holds overrides the
// documents allow (a code the Cybersource list has, Braintree's YY year).
func TestLintPresetContradictions(t *testing.T) {
	got := lintTestdata(t, "preset_bad.yaml",
		want{9, SeverityError, "type_card", `contradicts preset checkout_com: constant writes "card" when network_token at source.type: the processor wants a string, when network_token one of network_token (Checkout.com PaymentRequestSource`},
		want{16, SeverityError, "month_string", "exp_month writes a JSON string at source.expiry_month: the processor wants an integer (Checkout.com PaymentRequestCardSource and PaymentRequestNetworkTokenSource: expiry_month is an integer)"},
		want{17, SeverityError, "month_string", "exp_year writes the expiry as it is held at source.expiry_year: the processor wants an integer, format: yyyy"},
		want{18, SeverityError, "month_string", "eci writes a JSON integer at source.eci: the processor wants a string"},
		want{19, SeverityError, "month_string", `brand writes "visa" when network_token at source.token_type: the processor wants a string, when network_token one of vts, mdes, applepay, googlepay`},
		want{26, SeverityError, "cvv_removed", "this remove field replaces the preset's cvv field at json source.cvv (when: pan), so the processor would not get the cvv there"},
		want{32, SeverityError, "token_moved", "contradicts preset adyen: the token field reads json paymentMethod.cardNumber, but the preset reads the token at json paymentMethod.number"},
		want{38, SeverityError, "stripe_yy", "exp_year writes format yy at card[exp_year]: the processor wants an integer, format: yyyy (Stripe card_details_params"},
		want{45, SeverityError, "cybs_month_m", "contradicts preset cybersource: exp_month writes format m at paymentInformation.card.expirationMonth: the processor wants a string, format: mm (Cybersource ptsv2payments_payment_information_card: expirationMonth is a string, Format: MM"},
		want{51, SeverityError, "braintree_origin", `contradicts preset braintree: constant writes "VISA_CHECKOUT" when network_token at variables.input.networkToken.originDetails.origin: the processor wants a string, when network_token one of APPLE_PAY, GOOGLE_PAY, NETWORK_TOKEN (Braintree NetworkTokenOriginDetailsInput`},
	)
	// The config load refuses them, at the first one's line.
	_, err := Load(filepath.Join("testdata", "lint", "preset_bad.yaml"))
	if err != nil {
		t.Fatalf("Load refused what only lint sees: %v", err)
	}
	if e := LintError(got); e == nil || !strings.Contains(e.Error(), "preset_bad.yaml:9: set type_card: contradicts preset checkout_com") {
		t.Fatalf("LintError = %v", e)
	}
	lintTestdata(t, "preset_good.yaml")
}

// TestPresetsMeetTheirSchema: a set with only its preset lints clean, for
// every preset, so a preset's own fields meet its schema constraints, and
// each constraint cites its rule at a place the preset writes.
func TestPresetsMeetTheirSchema(t *testing.T) {
	for name, p := range presets {
		t.Run(name, func(t *testing.T) {
			for place, c := range p.schema {
				if c.doc == "" || !slices.ContainsFunc(p.fields, func(f Field) bool { return f.JSON == place || f.Form == place }) {
					t.Errorf("constraint at %s: no doc, or no preset field there", place)
				}
			}
			f, err := Parse("rules.yaml", []byte(presetOnly(name, p)))
			if err != nil {
				t.Fatal(err)
			}
			if got := Lint(f); len(got) != 0 {
				t.Errorf("\n%s", findingsText(got))
			}
		})
	}
}

// presetOnly is a rules file of one outbound set with only preset name
// and what the load asks of every such set: a destination, fallback: pan
// (a panOnly preset needs it), and the sign block of the preset's scheme,
// whose secret is only named (lint and Parse read no secret).
func presetOnly(name string, p preset) string {
	src := "outbound:\n  o:\n    preset: " + name + "\n    destinations: [\"localhost:1\"]\n    fallback: pan\n"
	if p.sign != "" {
		src += "    sign: {scheme: " + string(p.sign) + `, tenant: t, merchant_id: m, key_id: k, secret: "{env.TG_TEST_UNREAD}"}` + "\n"
	}
	return src
}
