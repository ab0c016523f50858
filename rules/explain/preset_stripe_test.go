package explain_test

import (
	"testing"

	"github.com/tokengate/tokengate/detokenize"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/rules/explain"
)

// TestOutboundStripe: the stripe preset shows the PAN in both cases, for
// every brand, with the reason the network token case takes it, and no
// cryptogram: Stripe's API takes no network token.
func TestOutboundStripe(t *testing.T) {
	f, err := rules.Parse("rules.yaml", []byte("outbound:\n  stripe:\n    preset: stripe\n    destinations: [\"api.stripe.com:443\"]\n    fallback: pan\n"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "type=card&card[number]=<pan>&card%5Bexp_month%5D=3&card%5Bexp_year%5D=2034&card%5Bcvc%5D=<cvv>"
	for _, brand := range []string{"visa", "mastercard", "amex"} {
		r := run(t, f, "stripe", "type=card&card[number]=tok_merchant123", explain.Options{Brand: brand, ContentType: formType})
		if len(r.Cases) != 2 {
			t.Fatalf("%s: report %+v", brand, r)
		}
		for _, c := range r.Cases {
			if c.Body != want {
				t.Errorf("%s, %s case:\n got %s\nwant %s", brand, c.Name, c.Body, want)
			}
			in := detokenize.Injection{Field: "card[number]", What: detokenize.InjectedPAN, Reason: detokenize.ReasonProcessorNoNetworkToken}
			if len(c.Injections) != 1 || c.Injections[0] != in {
				t.Errorf("%s, %s case: injections %+v", brand, c.Name, c.Injections)
			}
		}
	}
}
