package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// halfMappedCVV maps the CVV for JSON bodies only while the card number is
// read from forms too: a form's CVV would reach the merchant raw.
const halfMappedCVV = `inbound:
  checkout:
    match: {paths: ["/checkout"]}
    fields:
      - {kind: pan, json: card.number, form: card_number}
      - {kind: cvv, json: card.cvc}
`

// coveredSet has a set the first one covers: a warning only.
const coveredSet = `inbound:
  all:
    fields:
      - {kind: pan, json: card.number}
  checkout:
    match: {methods: [POST], paths: ["/checkout"]}
    fields:
      - {kind: pan, json: card.number}
`

func writeRulesFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRulesLintCommand: caddy tokengate rules lint prints file:line:
// severity: set: message, fails on an error (the parser's own refusals
// included), passes with warnings only, and the shipped examples are clean.
func TestRulesLintCommand(t *testing.T) {
	bad := writeRulesFile(t, halfMappedCVV)
	out, _, err := runTokengate(t, "rules", "lint", "--rules", bad)
	if err == nil || out != bad+":6: error: set checkout: cvv field has json but not form, while the pan field (line 5) has both: in a form body the card number is tokenized and the CVV is neither held nor removed, so it reaches the merchant raw; add form to this field\n" {
		t.Fatalf("half-mapped cvv: err %v\n%s", err, out)
	}

	warn := writeRulesFile(t, coveredSet)
	out, _, err = runTokengate(t, "rules", "lint", "--rules", warn)
	if err != nil || !strings.HasPrefix(out, warn+":5: warning: set checkout: unreachable in file order: set all (line 2)") {
		t.Fatalf("covered set: err %v\n%s", err, out)
	}

	parse := writeRulesFile(t, "outbound:\n  psp:\n    destinations: [\"localhost:1\"]\n    fields:\n      - {kind: token, json: n, form: n}\n      - {kind: number, json: n}\n")
	out, _, err = runTokengate(t, "rules", "lint", "--rules", parse)
	if err == nil || !strings.HasPrefix(out, parse+`:6: error: outbound "psp": field 2: number has json but no form`) {
		t.Fatalf("parse error: err %v\n%s", err, out)
	}

	for _, p := range []string{"../rules.example.yaml", "testdata/rules.yaml"} {
		if out, _, err := runTokengate(t, "rules", "lint", "--rules", p); err != nil || out != "" {
			t.Errorf("%s: err %v\n%s", p, err, out)
		}
	}
	if _, _, err := runTokengate(t, "rules", "lint", "--rules", filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file passed")
	}
	if _, _, err := runTokengate(t, "rules", "lint"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no --rules: %v", err)
	}
}

// TestConfigLoadRefusesLintErrors: what lint calls an error fails the
// config load with the same file:line.
func TestConfigLoadRefusesLintErrors(t *testing.T) {
	bad := writeRulesFile(t, halfMappedCVV)
	cfg := fmt.Sprintf(`{
	tokengate {
		rules %s
		vault bolt %s
	}
}
:9080 {
	tokenize
	respond "ok"
}`, bad, filepath.Join(t.TempDir(), "vault.db"))
	assertLoadError(t, cfg, bad+":6: set checkout: cvv field has json but not form")
}

// TestConfigLoadLogsLintWarnings: a file with warnings only loads, and each
// warning is logged with its file, line and set.
func TestConfigLoadLogsLintWarnings(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	g.load(fmt.Sprintf(`{
	log {
		output file %s
	}
	tokengate {
		rules %s
		vault bolt %s
	}
}
:9080 {
	tokenize
	respond "ok"
}`, g.logFile, writeRulesFile(t, coveredSet), filepath.Join(g.dir, "vault.db")))
	log := g.log()
	if !strings.Contains(log, `"level":"warn"`) || !strings.Contains(log, "rules lint: unreachable in file order") ||
		!strings.Contains(log, `"line":5`) || !strings.Contains(log, `"set":"checkout"`) {
		t.Fatalf("no lint warning logged:\n%s", log)
	}
}

// checkoutMonthAsString replaces the checkout_com preset's expiry_month
// with one written as a string, which Checkout.com's schema refuses.
const checkoutMonthAsString = `outbound:
  checkout:
    preset: checkout_com
    destinations: ["api.checkout.com:443"]
    fallback: pan
    fields:
      - {kind: exp_month, json: source.expiry_month, format: mm}
`

// TestRulesLintPresetContradiction: caddy tokengate rules lint fails on a
// field that contradicts its preset, at the field's line with the
// preset's rule, and the config load refuses it the same way.
func TestRulesLintPresetContradiction(t *testing.T) {
	p := writeRulesFile(t, checkoutMonthAsString)
	out, err := runTokengateIn(t, "", "rules", "lint", "--rules", p)
	if err == nil || !strings.HasPrefix(out, p+":7: error: set checkout: contradicts preset checkout_com: exp_month writes a JSON string at source.expiry_month: the processor wants an integer (Checkout.com") {
		t.Fatalf("err %v\n%s", err, out)
	}
	cfg := fmt.Sprintf(`{
	tokengate {
		rules %s
		vault bolt %s
	}
}
:9080 {
	respond "ok"
}`, p, filepath.Join(t.TempDir(), "vault.db"))
	assertLoadError(t, cfg, p+":7: set checkout: contradicts preset checkout_com: exp_month")
}
