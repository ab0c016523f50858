package rules

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const cybsSign = `sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: shop_1, key_id: 08c94330-f618-42a3-b09d-e1e43be5efda, secret: "{env.TG_TEST_CYBS_SECRET}"}`

// The cybersource preset expands to its fields and match: on the network
// token tokenizedCard is written and card removed (number first, as the
// token's place must be), on the PAN the card is completed; the preset's
// sign block is decoded with where the secret is, not the secret.
func TestPresetCybersource(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(out(dest, "preset: cybersource", "fallback: pan", cybsSign)))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Outbound[0]
	if s.Preset != "cybersource" || !slices.Equal(s.Match.Paths, []string{"/pts/v2/payments"}) || !slices.Equal(s.Match.Methods, []string{"POST"}) {
		t.Errorf("set: %+v", s)
	}
	if n := s.Fields[1]; n.Kind != KindNumber || n.JSON != "paymentInformation.card.number" || n.When != WhenPAN {
		t.Errorf("the PAN's number: %+v", n)
	}
	if g := s.Sign; g == nil || g.Scheme != SignCybersource || g.MerchantID != "shop_1" || g.SecretEnv != "TG_TEST_CYBS_SECRET" || g.Line != 6 || g.Secret != nil {
		t.Errorf("sign: %+v", g)
	}
	for _, fd := range s.Fields {
		if fd.Kind == KindBrand && (fd.Values["visa"].Text != "001" || fd.Values["mastercard"].Text != "002" || fd.Values["amex"].Text != "003") {
			t.Errorf("card type codes: %+v", fd)
		}
	}
}

// The preset needs a sign block, and the block is checked at parse.
func TestPresetCybersourceSignErrors(t *testing.T) {
	for _, tc := range []struct{ sign, want string }{
		{"", "rules.yaml:4: outbound \"o\": the cybersource preset needs sign"},
		{`sign: {scheme: hmac, merchant_id: m, key_id: k, secret: "{env.X}"}`, `rules.yaml:6: outbound "o": sign: unknown scheme "hmac"`},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, key_id: k, secret: "{env.X}"}`, "needs merchant_id"},
		{`sign: {scheme: cybersource_http_signature, merchant_id: m, key_id: k, secret: "{env.X}"}`, "needs tenant"},
		{`sign: {scheme: cybersource_http_signature, tenant: "a b", merchant_id: m, key_id: k, secret: "{env.X}"}`, `tenant "a b": want 1 to 64`},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret: c2VjcmV0}`, `secret: write "{env.NAME}"`},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k}`, "needs one of secret"},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret: "{env.X}", secret_file: k.b64}`, "needs one of secret"},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: "a\"b", secret: "{env.X}"}`, "printable ASCII"},
		{`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: "", key_id: k, secret: "{env.X}"}`, "merchant_id is empty"},
	} {
		lines := []string{dest, "preset: cybersource", "fallback: pan"}
		if tc.sign != "" {
			lines = append(lines, tc.sign)
		}
		_, err := Parse("rules.yaml", []byte(out(lines...)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.sign, err, tc.want)
		}
	}
}

// ResolveSecrets reads the secret from the environment or a file and
// refuses a missing, empty or non-base64 one with the sign key's line,
// never printing the value.
func TestResolveSecrets(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	enc := base64.StdEncoding.EncodeToString(key)
	parse := func(sign string) *File {
		t.Helper()
		dir := t.TempDir()
		p := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(p, []byte(out(dest, "preset: cybersource", "fallback: pan", sign)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cybs.key"), []byte(enc+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	env := `sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret: "{env.TG_TEST_CYBS_SECRET}"}`
	t.Setenv("TG_TEST_CYBS_SECRET", enc)
	f := parse(env)
	if err := f.ResolveSecrets(); err != nil || string(f.Outbound[0].Sign.Secret) != string(key) {
		t.Fatalf("env: %v", err)
	}
	if s := fmt.Sprintf("%+v %v", *f.Outbound[0].Sign, f.Outbound[0].Sign.Secret); strings.Contains(s, enc) || strings.Contains(s, "0123") || strings.Contains(s, "48 49") {
		t.Errorf("the secret prints: %s", s)
	}
	if j, err := json.Marshal(f.Outbound[0].Sign); err != nil || strings.Contains(string(j), enc) || !strings.Contains(string(j), `"Secret":"[redacted]"`) {
		t.Errorf("the secret marshals: %s %v", j, err)
	}
	f = parse(`sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret_file: cybs.key}`)
	if err := f.ResolveSecrets(); err != nil || string(f.Outbound[0].Sign.Secret) != string(key) {
		t.Fatalf("file: %v", err)
	}
	for _, tc := range []struct{ value, sign, want string }{
		{"", env, ":6: outbound \"o\": sign: environment variable TG_TEST_CYBS_SECRET is missing or empty"},
		{"not base64!" + enc, env, "TG_TEST_CYBS_SECRET is not base64"},
		{enc, `sign: {scheme: cybersource_http_signature, tenant: demo, merchant_id: m, key_id: k, secret_file: nope.key}`, ":6: outbound \"o\": sign: cannot read secret_file"},
	} {
		t.Setenv("TG_TEST_CYBS_SECRET", tc.value)
		err := parse(tc.sign).ResolveSecrets()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		if err != nil && tc.value != "" && strings.Contains(err.Error(), enc) {
			t.Errorf("the error holds the secret: %v", err)
		}
	}
}

// A remove may take out a whole object that holds the token's place (the
// token is read before any edit) or another remove's, never one under
// which its case writes a value.
func TestRemoveObject(t *testing.T) {
	ok := out(dest, "fallback: pan", "fields:",
		"- {kind: token, json: pi.card.number}",
		"- {kind: number, json: pi.tokenizedCard.number, when: network_token}",
		"- {kind: remove, json: pi.card.number, when: network_token}",
		"- {kind: remove, json: pi.card, when: network_token}")
	if _, err := Parse("rules.yaml", []byte(ok)); err != nil {
		t.Errorf("remove of the token's object: %v", err)
	}
	for _, bad := range []string{
		"- {kind: cryptogram, json: pi.card.cryptogram}",
		"- {kind: exp_month, json: pi.card.expirationMonth, when: network_token}",
		"- {kind: constant, json: pi.card.type, value: x}",
	} {
		if _, err := Parse("rules.yaml", []byte(ok+"    "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("%s under a removed object: %v", bad, err)
		}
	}
	// A PAN-only write under it is another case's: allowed.
	if _, err := Parse("rules.yaml", []byte(ok+"    - {kind: exp_month, json: pi.card.expirationMonth, when: pan}\n")); err != nil {
		t.Errorf("a write in the other case: %v", err)
	}
}
