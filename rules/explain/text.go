package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// caseTitles head each case in the text output.
var caseTitles = map[string]string{
	CaseInbound:      "what the merchant receives",
	CaseNetworkToken: "what the processor receives: with a network token",
	CasePAN:          "what the processor receives: PAN fallback (no usable network token)",
}

// WriteText writes the report for a person: one section per case, the
// fields touched, then the body (JSON indented; key order and values as
// they would leave).
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "rule set %s (%s), %s", r.Set, r.Direction, r.ContentType)
	if r.Brand != "" {
		fmt.Fprintf(&b, ", %s card (expiry %s/%s, network token expiry %s/%s)", r.Brand, SampleExpMonth, SampleExpYear, SampleTokenExpMonth, SampleTokenExpYear)
	}
	b.WriteString("\n")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "\n== %s ==\n", caseTitles[c.Name])
		if c.Refused != "" {
			fmt.Fprintf(&b, "refused, nothing is sent: %s\n", c.Refused)
			continue
		}
		if c.Injected != "" {
			fmt.Fprintf(&b, "Tokengate-Injected: %s\n", c.Injected)
		} else {
			for _, inj := range c.Injections {
				fmt.Fprintf(&b, "token %s: %s", inj.Field, inj.What)
				if inj.Reason != "" {
					fmt.Fprintf(&b, " (%s)", inj.Reason)
				}
				b.WriteString("\n")
			}
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "note: %s\n", n)
		}
		b.WriteString("fields touched:\n")
		if len(c.Changes) == 0 {
			b.WriteString("  (none)\n")
		}
		for _, ch := range c.Changes {
			switch ch.Op {
			case "removed":
				fmt.Fprintf(&b, "  - %s (removed)\n", ch.Path)
			case "added":
				fmt.Fprintf(&b, "  + %s = %s\n", ch.Path, ch.Value)
			default:
				fmt.Fprintf(&b, "  ~ %s = %s\n", ch.Path, ch.Value)
			}
		}
		b.WriteString("body:\n")
		var ind bytes.Buffer
		if json.Valid([]byte(c.Body)) && json.Indent(&ind, []byte(c.Body), "", "  ") == nil {
			b.WriteString(strings.TrimRight(ind.String(), "\r\n"))
		} else {
			b.WriteString(strings.TrimRight(c.Body, "\r\n"))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
