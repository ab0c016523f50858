package detokenize

import (
	"slices"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
)

func selectorOf(f *rules.Field, kind body.Kind) string {
	if kind == body.JSON {
		return f.JSON
	}
	return f.Form
}

// target is one field written in an injection case, with its selector for
// the body kind.
type target struct {
	*rules.Field // the rule set's own field: a copy per request would cost more than the rest of the plan
	sel          string
}

// targets are the fields one injection case writes, in file order.
type targets []target

// targetsOf appends to ts the fields written for case c
// (rules.WhenNetworkToken or rules.WhenPAN) in this body kind.
func targetsOf(ts targets, fields []rules.Field, kind body.Kind, c rules.When) targets {
	for i := range fields {
		f := &fields[i]
		if f.Kind == rules.KindToken || !f.When.Applies(c) {
			continue
		}
		if sel := selectorOf(f, kind); sel != "" {
			ts = append(ts, target{f, sel})
		}
	}
	return ts
}

// of returns the first target of kind k, or a zero target (sel "").
func (ts targets) of(k rules.Kind) target {
	for _, t := range ts {
		if t.Kind == k {
			return t
		}
	}
	return target{}
}

// brandless returns the first brand field with no value for brand, and
// whether there is one.
func (ts targets) brandless(brand string) (target, bool) {
	for _, t := range ts {
		if t.Kind != rules.KindBrand {
			continue
		}
		if _, ok := t.Values[brand]; !ok && t.Default == nil {
			return t, true
		}
	}
	return target{}, false
}

// numberPlace reports whether either case writes the number at the token's
// selector sel: then that place is where the processor reads a card number.
func numberPlace(cases [2]targets, sel string) bool {
	return cases[0].of(rules.KindNumber).sel == sel || cases[1].of(rules.KindNumber).sel == sel
}

// tokenPlaceSafe reports whether no case leaves the token at sel while the
// other writes a number there: each case writes its number at sel or
// removes sel or, in a JSON body, an object enclosing it
// (rules.checkTokenPlace, at load).
func tokenPlaceSafe(cases [2]targets, sel string, json bool) bool {
	if !numberPlace(cases, sel) {
		return true
	}
	for _, ts := range cases {
		if ts.of(rules.KindNumber).sel == sel {
			continue
		}
		if !slices.ContainsFunc(ts, func(t target) bool {
			return t.Kind == rules.KindRemove && (t.sel == sel || json && rules.Encloses(t.sel, sel))
		}) {
			return false
		}
	}
	return true
}
