package detokenize

import (
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
