package detokenize

import (
	"strings"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

func selectorOf(f rules.Field, kind body.Kind) string {
	if kind == body.JSON {
		return f.JSON
	}
	return f.Form
}

// targetsOf maps each injection kind to its selector for this body kind.
func targetsOf(fields []rules.Field, kind body.Kind) map[rules.Kind]string {
	targets := make(map[rules.Kind]string, len(fields))
	for _, f := range fields {
		if f.Kind == rules.KindToken {
			continue
		}
		if sel := selectorOf(f, kind); sel != "" {
			targets[f.Kind] = sel
		}
	}
	return targets
}

// expand puts a card's `#` indexes (group "2" or "0.1") into a selector with
// `#` segments, so a token found at cards.2.token injects at cards.2.cryptogram.
func expand(selector, group string) string {
	if group == "" || !strings.Contains(selector, "#") {
		return selector
	}
	idx := strings.Split(group, ".")
	segs := strings.Split(selector, ".")
	n := 0
	for i, s := range segs {
		if s == "#" && n < len(idx) {
			segs[i] = idx[n]
			n++
		}
	}
	return strings.Join(segs, ".")
}
