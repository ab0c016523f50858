package explain

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

// explainInbound tokenizes the body with the real tokenizer and shows it
// as the merchant would receive it, each token drawn shown as <token> (or
// <token_1>, <token_2>... in order of appearance when there are several).
func explainInbound(ctx context.Context, set *rules.Inbound, kind body.Kind, ct string, data []byte) (Case, error) {
	e, err := newEnv(set.Network, time.Now)
	if err != nil {
		return Case{}, err
	}
	defer e.close()
	doc, err := body.Parse(kind, ct, data)
	if err != nil {
		return Case{}, fmt.Errorf("the %s body does not parse: %w", kind, err)
	}
	res, err := e.stack.Tokenizer.Apply(ctx, set, kind, doc)
	if err != nil {
		if r, ok := refusal(err); ok {
			return Case{}, fmt.Errorf("the gateway would refuse this request (%s)", r)
		}
		return Case{}, err
	}
	out, err := doc.Bytes()
	if err != nil {
		return Case{}, fmt.Errorf("building the tokenized body: %w", err)
	}
	out = replaceTokens(out, e.vault.stored())
	c := Case{Name: CaseInbound, Body: string(out)}
	if c.Changes, err = changes(kind, ct, data, out); err != nil {
		return Case{}, err
	}
	c.Notes = append(c.Notes, fmt.Sprintf("%d card(s) tokenized, %d with a network token from the builtin service", res.Cards, res.NetworkTokens))
	if res.Strays != "" && set.PANGuard == rules.PANLog {
		c.Notes = append(c.Notes, "card numbers left in place and logged (pan_guard: log): "+res.Strays)
	}
	return c, nil
}

// replaceTokens replaces every token the tokenizer drew, in every encoding
// a body may carry it in, by a placeholder numbered in order of appearance.
func replaceTokens(out []byte, tokens []string) []byte {
	seen := map[string]bool{}
	type at struct {
		tok string
		pos int
	}
	var found []at
	for _, t := range tokens {
		if seen[t] {
			continue
		}
		seen[t] = true
		if p := firstIndex(out, t); p >= 0 {
			found = append(found, at{t, p})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].pos < found[j].pos })
	for i, f := range found {
		ph := PlaceholderToken
		if len(found) > 1 {
			ph = "<token_" + strconv.Itoa(i+1) + ">"
		}
		out = replaceValue(out, f.tok, ph)
	}
	return out
}

// firstIndex is where v first appears in out in any encoding, or -1.
func firstIndex(out []byte, v string) int {
	best := -1
	for _, enc := range encodings(v) {
		if p := bytes.Index(out, []byte(enc)); p >= 0 && (best < 0 || p < best) {
			best = p
		}
	}
	return best
}
