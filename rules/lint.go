package rules

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Severity says whether a lint finding stops the config from loading.
type Severity string

// Severities.
const (
	// SeverityError is a rule set that would mishandle card data: the
	// config load refuses it, as it refuses a parse error.
	SeverityError Severity = "error"
	// SeverityWarning is a rule set that is probably not what was meant
	// but may be, depending on how the Caddyfile uses it: it is printed by
	// lint and logged at load, never refused.
	SeverityWarning Severity = "warning"
)

// Finding is one problem lint found. Messages name sets, fields, selectors
// and paths from the rules file, never a value of a request: a rules file
// holds no card data, and lint reads no request.
type Finding struct {
	// Path is the rules file's name, as errors show it.
	Path string
	// Line is the 1-based line the finding is about (0 if unknown).
	Line int
	// Severity is error or warning.
	Severity Severity
	// Set is the rule set's name, or "" for a finding about the whole file
	// (a parse error, whose message names its set itself).
	Set string
	// Message says what is wrong and why it matters.
	Message string
}

// String formats f as "file:line: severity: set X: message", the shape
// editors and CI annotations parse.
func (f Finding) String() string {
	s := f.Path
	if f.Line > 0 {
		s += ":" + strconv.Itoa(f.Line)
	}
	s += ": " + string(f.Severity) + ": "
	if f.Set != "" {
		s += "set " + f.Set + ": "
	}
	return s + f.Message
}

// LintFile parses the rules file at path and lints it. A file the parser
// refuses is one error finding with the parser's file:line and message, so
// the checks the parser makes (an outbound token mapped where its number is
// not, for one) are reported once, by the code that enforces them at load.
// Only a file that cannot be read is an error.
func LintFile(path string) ([]Finding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		return []Finding{{Path: e.File, Line: e.Line, Severity: SeverityError, Message: e.Msg}}, nil
	}
	return Lint(f), nil
}

// Lint checks a parsed rules file for what the parser cannot refuse set by
// set: fields mapped for one body kind only, sets no request can reach, and
// inbound sets that share requests. Findings are in file order per check.
//
// Outbound half-mapped fields (a token read where its number, cryptogram or
// expiry cannot be written) are refused by the parser (checkInjected), so a
// parsed File has none; LintFile reports them.
//
// A field the user writes that contradicts its set's preset in a way the
// parser sees once the preset is expanded (withPreset: a second field of a
// kind, a place the preset writes in an overlapping case) is a parse error
// LintFile reports with the user field's line. One that replaces a preset
// field and undoes it (another kind, the token moved, a value or type the
// processor's schema refuses) parses, and lintPreset reports it.
func Lint(f *File) []Finding {
	if f == nil {
		return nil
	}
	var out []Finding
	for _, s := range f.Inbound {
		out = append(out, lintInboundFields(f.Path, s)...)
	}
	out = append(out, lintReach(f.Path, inboundSets(f.Inbound), true)...)
	out = append(out, lintReach(f.Path, outboundSets(f.Outbound), false)...)
	for _, s := range f.Outbound {
		out = append(out, lintPreset(f.Path, s)...)
	}
	return out
}

// LintError is the config load's verdict on findings: nil without errors,
// else an *Error at the first error's file:line, counting the others, so a
// file lint calls wrong never loads. Warnings are the caller's to log.
func LintError(findings []Finding) error {
	var first *Finding
	n := 0
	for i := range findings {
		if findings[i].Severity == SeverityError {
			if first == nil {
				first = &findings[i]
			}
			n++
		}
	}
	if first == nil {
		return nil
	}
	msg := first.Message
	if first.Set != "" {
		msg = "set " + first.Set + ": " + msg
	}
	if n > 1 {
		msg += fmt.Sprintf(" (and %d more errors; caddy tokengate rules lint --rules %s lists them)", n-1, first.Path)
	}
	return &Error{File: first.Path, Line: first.Line, Msg: msg}
}

// lintInboundFields reports inbound fields mapped for one body kind (json
// or form) while the set's pan field is mapped for both: in the other kind
// the card is tokenized and that field is not read.
//
// What that costs decides the severity. A CVV not read stays in the body
// raw, so it reaches the merchant (PCI DSS forbids keeping it) and is not
// held for the payment: an error. A consent field not read leaves
// consent_default in charge; when that is true, a customer's "no" in that
// body kind would keep the card anyway: an error; when false, a "yes" is
// merely lost: a warning. An expiry or name not read leaves the token
// without it (a network token may not be provisioned, a PAN fallback may be
// declined) and the value stays in the body, where it was allowed to be:
// a warning. A field mapped for neither kind is a choice (the parser
// allows a set without cvv), and a field in a kind the pan is not in is
// refused by the parser (checkFields).
func lintInboundFields(path string, s *Inbound) []Finding {
	pans := s.FieldsOf(KindPAN)
	if len(pans) == 0 {
		return nil
	}
	pan := pans[0]
	var out []Finding
	for _, f := range s.Fields {
		var has, lacks, kind string // selectors, and the body kind missed
		switch {
		case f.Kind == KindPAN:
			continue
		case pan.JSON != "" && f.JSON == "" && f.Form != "":
			has, lacks, kind = "form", "json", "JSON"
		case pan.Form != "" && f.Form == "" && f.JSON != "":
			has, lacks, kind = "json", "form", "form"
		default:
			continue
		}
		sev, cost := SeverityWarning, "its "+string(f.Kind)+" is not read, so the card is kept without it"
		switch {
		case f.Kind == KindCVV:
			sev, cost = SeverityError, "the CVV is neither held nor removed, so it reaches the merchant raw"
		case f.Kind == KindConsent && s.ConsentDefault:
			sev, cost = SeverityError, "consent_default (true) applies instead, so a customer's refusal would keep the card"
		case f.Kind == KindConsent:
			cost = "consent_default (false) applies instead, so a customer's consent is not kept"
		}
		out = append(out, Finding{Path: path, Line: f.Line, Severity: sev, Set: s.Name, Message: fmt.Sprintf(
			"%s field has %s but not %s, while the pan field (line %d) has both: in a %s body the card number is tokenized and %s; add %s to this field",
			f.Kind, has, lacks, pan.Line, kind, cost, lacks)})
	}
	return out
}

// namedMatch is what the reach checks need of a set of either direction.
type namedMatch struct {
	name  string
	line  int
	match Match
}

func inboundSets(sets []*Inbound) []namedMatch {
	out := make([]namedMatch, len(sets))
	for i, s := range sets {
		out[i] = namedMatch{s.Name, s.Line, s.Match}
	}
	return out
}

func outboundSets(sets []*Outbound) []namedMatch {
	out := make([]namedMatch, len(sets))
	for i, s := range sets {
		out[i] = namedMatch{s.Name, s.Line, s.Match}
	}
	return out
}

// lintReach reports, per set, the first earlier set of the same direction
// whose match covers it (unreachable), or else, for inbound sets
// (overlapping), the first earlier one sharing a request with it.
//
// Both are warnings, not errors: a handler takes the first of its sets
// whose match fits the request, in the order the Caddyfile names them, or
// in file order when it names none. A set covered in file order is still
// reached by a handler that names it alone or first, which an existing
// Caddyfile may well do; so lint can only say what happens in file order.
// An earlier set that the later one covers is not an overlap worth a
// warning: it is the usual exception-before-general-case order, and the
// intent is plain. Outbound overlaps are not reported: merchants often route one processor's
// endpoints through sets that differ only by destination and name each in
// its own handler.
func lintReach(path string, sets []namedMatch, overlaps bool) []Finding {
	var out []Finding
	for j, later := range sets {
		var over *Finding
		for _, earlier := range sets[:j] {
			if covers(earlier.match, later.match) {
				over = &Finding{Path: path, Line: later.line, Severity: SeverityWarning, Set: later.name, Message: fmt.Sprintf(
					"unreachable in file order: set %s (line %d) comes first and matches every request this set matches, so a handler that uses both in file order (the default when the Caddyfile names no set) never applies this one; narrow or move %s, or name the sets in the Caddyfile",
					earlier.name, earlier.line, earlier.name)}
				break
			}
			if over != nil || !overlaps {
				continue
			}
			if covers(later.match, earlier.match) {
				continue // an exception placed before its general case, as routes are ordered
			}
			if w, ok := overlapWitness(earlier.match, later.match); ok {
				over = &Finding{Path: path, Line: later.line, Severity: SeverityWarning, Set: later.name, Message: fmt.Sprintf(
					"overlaps set %s (line %d): a request such as %s matches both, and %s wins because it comes first (in file order, or in the Caddyfile's order when it names the sets)",
					earlier.name, earlier.line, w, earlier.name)}
			}
		}
		if over != nil {
			out = append(out, *over)
		}
	}
	return out
}
