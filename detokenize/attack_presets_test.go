package detokenize_test

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

// A user number field with when: pan, at the place where the preset writes
// the network token, loads (rules.Parse accepts it: the token's own place
// gets no number in either case, so the token may stay there). On the PAN
// fallback the processor then gets a card source whose number is the
// merchant's token and whose network token member holds the PAN. Lint, and
// so the config load, must refuse it as contradicting the preset.
func TestAttackPresetPANInNetworkTokenShape(t *testing.T) {
	const yaml = `outbound:
  o:
    preset: checkout_com
    destinations: ["api.checkout.com:443"]
    fallback: pan
    fields:
    - {kind: number, json: source.token, when: pan}
`
	f, err := rules.Parse("test.yaml", []byte(yaml))
	if err != nil {
		return // refused at parse: fine
	}
	if rules.LintError(rules.Lint(f)) != nil {
		return // refused at load: fine
	}
	set := f.Outbound[0]
	e := newEnv(t)
	c := e.issueVaultOnly(t, tenantA, visaPAN, "123", "card_not_eligible")
	out, _, err := e.applySet(t, set, body.JSON, fmt.Sprintf(`{"amount":1000,"source":{"type":"card","number":"%s"}}`, c.token))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Errorf("loaded, and the PAN fallback sends source.number=%v (the token), source.token=%v (the PAN), type %s",
		gjson.GetBytes(out, "source.number").Str == c.token, gjson.GetBytes(out, "source.token").Str == visaPAN, gjson.GetBytes(out, "source.type").Str)
}
