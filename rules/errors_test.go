package rules

import (
	"errors"
	"strings"
	"testing"
)

// in wraps inbound set lines (each indented by 4) as set "s" at line 2, so
// the first line passed is line 3.
func in(lines ...string) string {
	return "inbound:\n  s:\n" + indent(lines)
}

// out does the same for an outbound set "o".
func out(lines ...string) string {
	return "outbound:\n  o:\n" + indent(lines)
}

func indent(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

const (
	pan  = "- {kind: pan, json: card.number, form: card_number}"
	tok  = "- {kind: token, json: card.number, form: card_number}"
	dest = "destinations: [psp.example:443]"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bad kind",
			strings.Replace(briefExample, "kind: exp_month, json: card.exp_month", "kind: pam, json: card.exp_month", 1),
			`rules.yaml:14: inbound "checkout": field 3: unknown kind "pam" (want pan, cvv, exp_month, exp_year, name, consent)`},
		{"outbound kind inbound",
			in("fields:", pan, "- {kind: eci, json: card.eci}"),
			`rules.yaml:5: inbound "s": field 2: unknown kind "eci" (want pan, cvv, exp_month, exp_year, name, consent)`},
		{"inbound kind outbound",
			out(dest, "fields:", tok, "- {kind: pan, json: card.pan}"),
			`rules.yaml:6: outbound "o": field 2: unknown kind "pan" (want token, number, exp_month, exp_year, cryptogram, eci, cvv, name, constant, brand, remove, graphql)`},
		{"missing kind",
			in("fields:", "- {json: card.number}"),
			`rules.yaml:4: inbound "s": field 1: missing kind (want pan, cvv, exp_month, exp_year, name, consent)`},
		{"missing pan",
			in("tenant: t", "fields:", "- {kind: cvv, json: card.cvc}"),
			`rules.yaml:2: inbound "s": needs exactly one pan field, has none`},
		{"no fields",
			"inbound:\n  s:\n",
			`rules.yaml:2: inbound "s": needs exactly one pan field, has none`},
		{"two pans",
			in("fields:", pan, "- {kind: cvv, form: cvc}", "- {kind: pan, json: other}"),
			`rules.yaml:6: inbound "s": field 3: second pan field (the first is field 1, line 4); a set describes one card`},
		{"duplicate set",
			in("fields: [{kind: pan, json: n}]") + "  s:\n    fields: [{kind: pan, json: m}]\n",
			`rules.yaml:4: inbound "s": rule set declared twice (first at line 2)`},
		{"bad set name",
			"inbound:\n  Checkout:\n    fields: [{kind: pan, json: n}]\n",
			`rules.yaml:2: inbound: rule set name "Checkout": want lower-case letters, digits, _ and - only`},
		{"unknown top-level key",
			"inbond:\n  s: {}\n",
			`rules.yaml:1: unknown key "inbond" (want inbound, outbound)`},
		{"unknown set key",
			in("tokn_format: uuid", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": unknown key "tokn_format" (want tenant, match, token_format, token_prefix, cvv_ttl, pan_guard, max_cards, consent_default, cvv_store_down, network, fields)`},
		{"bad cvv_store_down",
			in("cvv_store_down: continue", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": unknown cvv_store_down "continue" (want reject, drop)`},
		{"unknown field key",
			in("fields:", "- {kind: pan, jsn: card.number}"),
			`rules.yaml:4: inbound "s": field 1: unknown key "jsn" (want kind, json, form, keep)`},
		{"unknown match key",
			in("match: {method: [POST]}", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": match: unknown key "method" (want methods, paths)`},
		{"cvv_ttl outbound is unknown",
			out(dest, "cvv_ttl: 15m", "fields: ["+tok[2:]+"]"),
			`rules.yaml:4: outbound "o": unknown key "cvv_ttl" (want preset, match, destinations, fallback, response_guard, allow_plaintext, max_cards, initiator, fields, pan_guard, sign)`},
		{"duplicate key",
			in("tenant: a", "tenant: b", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:4: inbound "s": duplicate key "tenant" (first at line 3)`},
		{"bad duration",
			in("cvv_ttl: 15 minutes", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": cvv_ttl "15 minutes": want a Go duration such as 15m`},
		{"duration out of range",
			in("fields: [{kind: pan, json: n}]", "cvv_ttl: 48h"),
			`rules.yaml:4: inbound "s": cvv_ttl "48h": want 1s to 24h; a CVV must not outlive authorization`},
		{"bad format",
			in("token_format: random", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": unknown token_format "random" (want prefixed, uuid, alias, network_token)`},
		{"prefix with uuid",
			in("token_prefix: tok_", "token_format: uuid", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": token_prefix is only for token_format prefixed, not uuid`},
		{"bad prefix",
			in("token_prefix: tok.", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": token_prefix "tok.": want 1 to 16 of A-Z a-z 0-9 _ -`},
		{"bad tenant",
			in("tenant: a b", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": tenant "a b": want 1 to 64 of A-Z a-z 0-9 . _ -`},
		{"outbound without token",
			out(dest, "fields:", "- {kind: number, json: card.number}"),
			`rules.yaml:2: outbound "o": needs exactly one token field, has none`},
		{"outbound without destinations",
			out("fields: [" + tok[2:] + "]"),
			`rules.yaml:2: outbound "o": needs at least one destination (host:port), so card data can only go where it is meant to`},
		{"destination without port",
			out("destinations: [psp.example]", "fields: ["+tok[2:]+"]"),
			`rules.yaml:3: outbound "o": destination "psp.example": want host:port`},
		{"destination bad port",
			out("destinations:", "- psp.example:443", "- psp.example:0", "fields: ["+tok[2:]+"]"),
			`rules.yaml:5: outbound "o": destination "psp.example:0": port must be 1 to 65535`},
		{"bad pan guard",
			"inbound:\n  s:\n    pan_guard: block\n    fields: [{kind: pan, json: n}]\n",
			`rules.yaml:3: inbound "s": unknown pan_guard "block" (want reject, tokenize, log, off)`},
		{"bad max cards",
			"inbound:\n  s:\n    max_cards: 0\n    fields: [{kind: pan, json: n}]\n",
			`rules.yaml:3: inbound "s": max_cards "0": want a whole number from 1 to 100000`},
		{"bad response guard",
			out(dest, "response_guard: mask", "fields: ["+tok[2:]+"]"),
			`rules.yaml:4: outbound "o": unknown response_guard "mask" (want redact, off)`},
		{"outbound pan_guard tokenize",
			out(dest, "pan_guard: tokenize", "fields: ["+tok[2:]+"]"),
			`rules.yaml:4: outbound "o": unknown pan_guard "tokenize" (want reject, log, off)`},
		{"bad fallback",
			out(dest, "fallback: retry", "fields: ["+tok[2:]+"]"),
			`rules.yaml:4: outbound "o": unknown fallback "retry" (want pan, reject)`},
		{"gjson modifier",
			in("fields:", "- {kind: pan, json: card.@reverse}"),
			`rules.yaml:4: inbound "s": field 1: json "card.@reverse": segment 2 "@reverse": gjson modifiers (@...) cannot be written back; escape a key starting with @ as \@`},
		{"gjson query",
			in("fields:", "- {kind: pan, json: 'cards.#(type==\"visa\").number'}"),
			`rules.yaml:4: inbound "s": field 1: json "cards.#(type==\"visa\").number": segment 2 "#(type==\"visa\")": "#" must be a whole segment; gjson queries like #(...) cannot be written back`},
		{"gjson pipe",
			in("fields:", "- {kind: pan, json: 'card|number'}"),
			`rules.yaml:4: inbound "s": field 1: json "card|number": segment 1 "card|number": gjson pipes (|) cannot be written back`},
		{"gjson wildcard",
			in("fields:", "- {kind: pan, json: 'card.num*'}"),
			`rules.yaml:4: inbound "s": field 1: json "card.num*": segment 2 "num*": gjson wildcards (*) cannot be written back; escape a literal * as \*`},
		{"trailing #",
			in("fields:", "- {kind: pan, json: 'cards.#'}"),
			`rules.yaml:4: inbound "s": field 1: json "cards.#": ends with "#", which counts the elements; name the key inside them (e.g. cards.#.number)`},
		{"empty json segment",
			in("fields:", "- {kind: pan, json: 'card..number'}"),
			`rules.yaml:4: inbound "s": field 1: json "card..number": segment 2 "": empty key (two dots in a row, or a dot at an end)`},
		{"empty json",
			in("fields:", "- {kind: pan, json: '', form: n}"),
			`rules.yaml:4: inbound "s": field 1: json "": empty path`},
		{"mismatched # depth",
			in("fields:", "- {kind: pan, json: 'cards.#.number'}", "- {kind: cvv, json: 'cvc'}"),
			`rules.yaml:5: inbound "s": field 2: json "cvc" has 0 # segments but the pan field's "cards.#.number" has 1; all fields of a set share one grouping of # indexes`},
		{"mismatched # depth outbound",
			out(dest, "fields:", "- {kind: eci, json: 'p.#.eci'}", "- {kind: token, json: 'p.#.ts.#.t'}"),
			`rules.yaml:5: outbound "o": field 1: json "p.#.eci" has 1 # segments but the token field's "p.#.ts.#.t" has 2; all fields of a set share one grouping of # indexes`},
		// A token that can be found where no number can be written (issue
		// 15, item 8): the number mapped for forms only sent JSON payments
		// on with the token in place of the card number.
		{"number for forms only",
			out(dest, "fields:", tok, "- {kind: number, form: card_number}", "- {kind: cryptogram, form: card_cryptogram}"),
			`rules.yaml:6: outbound "o": field 2: number has form but no json, while the token field (field 1, line 5) has json "card.number": in a JSON body the token would be found and no card number would be written for it, and the token itself would go to the processor; add json to this field`},
		{"number for JSON only",
			out(dest, "fields:", tok, "- {kind: number, json: card.pan}"),
			`rules.yaml:6: outbound "o": field 2: number has json but no form, while the token field (field 1, line 5) has form "card_number": in a form body the token would be found and no card number would be written for it, and the token itself would go to the processor; add form to this field`},
		{"cryptogram for forms only",
			out(dest, "fields:", tok, "- {kind: cryptogram, form: card_cryptogram}"),
			`rules.yaml:6: outbound "o": field 2: cryptogram has form but no json, while the token field (field 1, line 5) has json "card.number": in a JSON body the token would be found and its cryptogram would not be written; add json to this field`},
		{"eci for JSON only",
			out(dest, "fields:", tok, "- {kind: cryptogram, json: card.cryptogram, form: card_cryptogram}", "- {kind: eci, json: card.eci}"),
			`rules.yaml:7: outbound "o": field 3: eci has json but no form, while the token field (field 1, line 5) has form "card_number": in a form body the token would be found and its eci would not be written; add form to this field`},
		{"expiry for forms only, token first in the file after it",
			out(dest, "fields:", "- {kind: exp_month, form: m}", tok),
			`rules.yaml:5: outbound "o": field 1: exp_month has form but no json, while the token field (field 2, line 6) has json "card.number": in a JSON body the token would be found and its exp_month would not be written; add json to this field`},
		{"number in another array",
			out(dest, "fields:", "- {kind: token, json: 'cards.#.token'}", "- {kind: number, json: 'payments.#.number'}"),
			`rules.yaml:6: outbound "o": field 2: json "payments.#.number" has its # segments in other arrays than the token field's "cards.#.token": the values of a card whose token is in an array element must be written inside that same element`},
		{"cryptogram in another inner array",
			out(dest, "fields:", "- {kind: token, json: 'orders.#.cards.#.token'}", "- {kind: cryptogram, json: 'orders.#.nets.#.c'}"),
			`rules.yaml:6: outbound "o": field 2: json "orders.#.nets.#.c" has its # segments in other arrays than the token field's "orders.#.cards.#.token": the values of a card whose token is in an array element must be written inside that same element`},
		{"keep on pan",
			in("fields:", "- {kind: pan, json: n, keep: true}"),
			`rules.yaml:4: inbound "s": field 1: keep is only for inbound cvv, exp_month, exp_year and name fields, not inbound pan`},
		{"keep outbound",
			out(dest, "fields:", tok, "- {kind: cvv, json: c, keep: false}"),
			`rules.yaml:6: outbound "o": field 2: keep is only for inbound cvv, exp_month, exp_year and name fields, not outbound cvv`},
		{"keep not a bool",
			in("fields:", pan, "- {kind: cvv, form: c, keep: yes}"),
			`rules.yaml:5: inbound "s": field 2: keep: want true or false, got "yes"`},
		{"field without selector",
			in("fields:", pan, "- {kind: cvv}"),
			`rules.yaml:5: inbound "s": field 2: needs json or form (or both)`},
		{"form without pan form",
			in("fields:", "- {kind: pan, json: card.number}", "- {kind: cvv, json: card.cvc, form: cvc}"),
			`rules.yaml:5: inbound "s": field 2: has form but the pan field does not, so in a form body this cvv could not be tied to a card`},
		{"json overlap",
			in("fields:", pan, "- {kind: name, json: card}"),
			`rules.yaml:5: inbound "s": field 2: json "card" overlaps field 1's "card.number"; each value needs a place of its own`},
		{"same form twice",
			out(dest, "fields:", tok, "- {kind: eci, form: card_number}"),
			`rules.yaml:6: outbound "o": field 2: form "card_number" is also field 1's`},
		{"fields not a list",
			in("fields: {kind: pan}"),
			`rules.yaml:3: inbound "s": fields: want a list, got a mapping`},
		{"field not a mapping",
			in("fields: [pan]"),
			`rules.yaml:3: inbound "s": field 1: want a mapping with kind and json or form, got "pan"`},
		{"bad method",
			in("match: {methods: [POST, 'GET /x']}", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": match: method "GET /x": want an HTTP method such as POST`},
		{"bad path pattern",
			in("match:", "  paths:", "  - checkout", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:5: inbound "s": match: path "checkout": want a pattern starting with / or *`},
		{"bad glob",
			in("match: {paths: ['/a/[b']}", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": match: path "/a/[b": bad glob: syntax error in pattern`},
		{"set not a mapping",
			"outbound:\n  o: [a]\n",
			`rules.yaml:2: outbound "o": want a mapping, got a list`},
		{"top level is a list",
			"- inbound\n",
			`rules.yaml:1: want a mapping, got a list`},
		{"unknown key with an anchor",
			"x: &x {tenant: a}\n",
			`rules.yaml:1: unknown key "x" (want inbound, outbound)`},
		{"merge key in set",
			in("<<: {tenant: a}", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": merge keys (<<) are not supported; write the keys out`},
		{"yaml syntax error",
			in("fields: [{kind: pan, json: n}]", `tenant: "a\qb"`),
			`rules.yaml:4: invalid YAML: found unknown escape character`},
		// For parser (not scanner) errors, yaml reports the line its
		// context mark holds, 0-based: here the line before the set's
		// first key, not the misindented line 5. It is kept as yaml says.
		{"yaml parser error keeps yaml's line",
			in("fields:", "  - {kind: pan, json: n}", " bad: indent"),
			`rules.yaml:2: invalid YAML: did not find expected key`},
		{"yaml error without a line",
			in("fields: [*pan]"),
			`rules.yaml: invalid YAML: unknown anchor 'pan' referenced`},
		{"second document",
			in("fields: [{kind: pan, json: n}]") + "---\ninbound: {}\n",
			`rules.yaml:4: a rules file holds one YAML document; remove this second one`},
		{"invalid UTF-8",
			in("tenant: \"a\xffb\""),
			`rules.yaml:3: invalid UTF-8 (byte 0xff)`},
		{"control character",
			in("fields: [{kind: pan, json: n}]", "tenant: a\x01"),
			`rules.yaml:4: control character U+0001 is not allowed`},
		{"null string",
			in("tenant:", "fields: [{kind: pan, json: n}]"),
			`rules.yaml:3: inbound "s": tenant: want a string, got nothing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("rules.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; parsed %+v", f)
			}
			if f != nil {
				t.Errorf("a File was returned with the error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error is a %T, not an *Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// TestOutboundFieldsThatCoverTheToken: the layouts checkInjected must keep
// accepting.
func TestOutboundFieldsThatCoverTheToken(t *testing.T) {
	for name, fields := range map[string][]string{
		"number defaulted to the token's place": {tok, "- {kind: cryptogram, json: card.cryptogram, form: card_cryptogram}"},
		"no cryptogram at all":                  {tok, "- {kind: number, json: card.number, form: card_number}", "- {kind: exp_month, json: m, form: m}"},
		"JSON only":                             {"- {kind: token, json: pm.token}", "- {kind: number, json: pm.card.number}", "- {kind: cryptogram, json: pm.card.c}"},
		"form only":                             {"- {kind: token, form: t}", "- {kind: number, form: n}", "- {kind: eci, form: e}"},
		"inside the token's array elements":     {"- {kind: token, json: 'cards.#.token'}", "- {kind: number, json: 'cards.#.card.number'}"},
		"nested arrays":                         {"- {kind: token, json: 'o.#.cards.#.t'}", "- {kind: number, json: 'o.#.cards.#.card.n'}"},
	} {
		src := out(append([]string{dest, "fields:"}, fields...)...)
		if _, err := Parse("rules.yaml", []byte(src)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
