package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// runTokengateIn is runTokengate with stdin.
func runTokengateIn(t *testing.T, stdin string, args ...string) (stdout string, err error) {
	t.Helper()
	def, ok := caddycmd.Commands()["tokengate"]
	if !ok {
		t.Fatal("the tokengate command is not registered")
	}
	cmd := &cobra.Command{Use: def.Name, SilenceUsage: true}
	def.CobraFunc(cmd)
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestRulesExplainCommand: caddy tokengate rules explain prints both
// outbound cases with the gateway's own Tokengate-Injected header, the
// inbound body as the merchant gets it, JSON with --json, and clear errors.
func TestRulesExplainCommand(t *testing.T) {
	const cko = `{"amount":1000,"source":{"number":"tok_merchant"}}`
	out, err := runTokengateIn(t, cko, "rules", "explain", "--rules", "testdata/rules.yaml", "--set", "cko", "--brand", "amex")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"rule set cko (outbound), application/json, amex card",
		"== what the processor receives: with a network token ==\nTokengate-Injected: source.number=pan;reason=brand_not_supported\n",
		"== what the processor receives: PAN fallback (no usable network token) ==\nTokengate-Injected: source.number=pan;reason=no_network_token\n",
		`  + source.type = "card"`,
		`"cvv": "<cvv>"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	out, err = runTokengateIn(t, cko, "rules", "explain", "--rules", "testdata/rules.yaml", "--set", "cko", "--json")
	var rep struct {
		Brand string
		Cases []struct {
			Case, Body, Injected string
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Brand != "visa" || len(rep.Cases) != 2 {
		t.Fatalf("--json: err %v\n%s", err, out)
	}
	if c := rep.Cases[0]; c.Case != "network_token" || c.Injected != "source.number=network_token" ||
		!strings.Contains(c.Body, `"token_type":"vts"`) || !strings.Contains(c.Body, `"cryptogram":"<cryptogram>"`) {
		t.Errorf("--json network token case: %+v", c)
	}

	out, err = runTokengateIn(t, "card_number=4111111111111111&card_cvc=123&card_exp_month=12&card_exp_year=2030",
		"rules", "explain", "--rules", "../rules.example.yaml", "--set", "checkout", "--content-type", "application/x-www-form-urlencoded")
	if err != nil || !strings.Contains(out, "card_number=<token>&card_exp_month=12") || strings.Contains(out, "4111") {
		t.Errorf("inbound form: err %v\n%s", err, out)
	}

	// The outbound PAN guard runs as the handler runs it (reject here).
	out, err = runTokengateIn(t, `{"source":{"number":"tok_1"},"note":"5555555555554444"}`, "rules", "explain", "--rules", "testdata/rules.yaml", "--set", "cko")
	if err != nil || strings.Count(out, `refused, nothing is sent: 400 field "note": a card number is outside the token fields`) != 2 || strings.Contains(out, "5555") {
		t.Errorf("outbound pan guard: err %v\n%s", err, out)
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{cko, []string{"--rules", "testdata/rules.yaml"}, "usage"},
		{cko, []string{"--rules", "testdata/rules.yaml", "--set", "nope"}, `no rule set "nope"`},
		{`{"card":{"number":"4111111111111112"}}`, []string{"--rules", "testdata/rules.yaml", "--set", "checkout"}, `"card.number"`},
		{cko, []string{"--rules", writeRulesFile(t, halfMappedCVV), "--set", "checkout"}, "cvv field has json but not form"},
	} {
		_, err := runTokengateIn(t, tc.stdin, append([]string{"rules", "explain"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "411111111111111") {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}
