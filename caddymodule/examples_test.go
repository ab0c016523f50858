package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/tokengate/tokengate/rules"
)

// exampleDirs are the processor examples, examples/<processor>/, each with
// a Caddyfile, rules.yaml, README.md and request.json or request.form.
func exampleDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	if len(out) < 3 {
		t.Fatalf("examples: found %v, want at least checkout_com, adyen and stripe", out)
	}
	return out
}

// exampleRequest is the example's request body and the content type
// explain is told it has.
func exampleRequest(t *testing.T, dir string) (body, contentType string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "request.json")); err == nil {
		return string(b), "application/json"
	}
	b, err := os.ReadFile(filepath.Join(dir, "request.form"))
	if err != nil {
		t.Fatalf("%s: neither request.json nor request.form", dir)
	}
	return strings.TrimSpace(string(b)), "application/x-www-form-urlencoded"
}

// TestExamples: every examples/<processor>/ is what its README says it is.
// Its rules lint clean; rules explain shows, for Visa, Mastercard and
// Amex, the network token request (for Visa at least; a brand the
// processor cannot take shows the fallback with its reason) and the PAN
// fallback, or the PAN in both for a processor that takes no network
// token; and its Caddyfile adapts and passes caddy validate. New examples
// are covered by being there.
func TestExamples(t *testing.T) {
	// The secrets the examples read from the environment, as their
	// READMEs tell the user to set them (any base64 key will do here).
	t.Setenv("CYBS_SECRET", "c2hhcmVkIHNlY3JldCBmb3IgdGhlIGV4YW1wbGU=")
	for _, dir := range exampleDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			for _, name := range []string{"Caddyfile", "rules.yaml", "README.md"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Errorf("no %s", name)
				}
			}
			rulesPath := filepath.Join(dir, "rules.yaml")
			if out, err := runTokengateIn(t, "", "rules", "lint", "--rules", rulesPath); err != nil || out != "" {
				t.Errorf("rules lint: err %v\n%s", err, out)
			}
			f, err := rules.Load(rulesPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Outbound) == 0 {
				t.Fatal("no outbound rule set")
			}
			body, ct := exampleRequest(t, dir)
			for _, s := range f.Outbound {
				explainExample(t, rulesPath, s, body, ct)
			}
			validateExample(t, dir)
		})
	}
}

// explainExample runs rules explain on the example's request for set s,
// per brand, and checks the two cases' Tokengate-Injected lines.
func explainExample(t *testing.T, rulesPath string, s *rules.Outbound, body, ct string) {
	t.Helper()
	const ntCase, panCase = "== what the processor receives: with a network token ==\n", "== what the processor receives: PAN fallback (no usable network token) ==\n"
	for _, brand := range []string{"visa", "mastercard", "amex"} {
		out, err := runTokengateIn(t, body, "rules", "explain", "--rules", rulesPath, "--set", s.Name, "--content-type", ct, "--brand", brand)
		if err != nil {
			t.Errorf("explain --set %s --brand %s: %v\n%s", s.Name, brand, err, out)
			continue
		}
		nt, pan, ok := strings.Cut(out, panCase)
		if !ok || !strings.Contains(nt, ntCase) {
			t.Errorf("explain --set %s --brand %s: not both cases:\n%s", s.Name, brand, out)
			continue
		}
		if !strings.Contains(pan, "=pan;reason=no_network_token") && !(s.PANOnly && strings.Contains(pan, "=pan;reason=processor_takes_no_network_token")) {
			t.Errorf("explain --set %s --brand %s: PAN fallback without the PAN:\n%s", s.Name, brand, pan)
		}
		switch sentNT := strings.Contains(nt, "=network_token"); {
		case s.PANOnly && sentNT:
			t.Errorf("explain --set %s --brand %s: a PAN-only preset sent a network token:\n%s", s.Name, brand, nt)
		case s.PANOnly && !strings.Contains(nt, "reason=processor_takes_no_network_token"):
			t.Errorf("explain --set %s --brand %s: no reason for the PAN:\n%s", s.Name, brand, nt)
		case !s.PANOnly && brand == "visa" && !sentNT:
			t.Errorf("explain --set %s --brand visa: no network token request:\n%s", s.Name, nt)
		case !s.PANOnly && !sentNT && !strings.Contains(nt, "reason=brand_not_supported"):
			t.Errorf("explain --set %s --brand %s: neither a network token nor the brand's reason:\n%s", s.Name, brand, nt)
		}
	}
}

// validateExample adapts the example's Caddyfile and runs caddy validate's
// path (caddy.Validate: every module provisioned, nothing started) in a
// temporary directory holding a copy of the Caddyfile and rules, as the
// example is run from its own directory. Provisioning the tokengate app
// opens the vault and makes a development keyset, so the copy keeps those
// out of the repository.
func validateExample(t *testing.T, dir string) {
	t.Helper()
	tmp := t.TempDir()
	for _, name := range []string{"Caddyfile", "rules.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.ReadFile(filepath.Join(tmp, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s:%d: %s", w.File, w.Line, w.Message)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("validate: %v", err)
	}
}
