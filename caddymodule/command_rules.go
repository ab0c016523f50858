package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tokengate/tokengate/body"
	"github.com/tokengate/tokengate/rules"
	"github.com/tokengate/tokengate/rules/explain"
)

// rulesArgs are the flags of caddy tokengate rules <sub>.
type rulesArgs struct {
	path, set, contentType, brand string
	json                          bool
}

// maxExplainBody bounds the body rules explain reads: a request body the
// gateway would take is far smaller.
const maxExplainBody = 16 << 20

// cmdRules runs caddy tokengate rules <sub> --rules <file>: checks of a
// rules file that need no vault, keys, network or running gateway.
func cmdRules(sub string, a rulesArgs, in io.Reader, out io.Writer) (int, error) {
	switch sub {
	case "lint":
		if a.path == "" {
			return exitFailure, errors.New("usage: caddy tokengate rules lint --rules <file>")
		}
		return cmdRulesLint(a.path, out)
	case "explain":
		if a.path == "" || a.set == "" {
			return exitFailure, errors.New("usage: caddy tokengate rules explain --rules <file> --set <name> [--content-type <type>] [--brand <brand>] [--json] < body")
		}
		return cmdRulesExplain(a, in, out)
	}
	if a.path == "" {
		return exitFailure, errors.New("usage: caddy tokengate rules lint|explain --rules <file>")
	}
	return exitFailure, fmt.Errorf("unknown rules subcommand %q (want lint or explain)", sub)
}

// cmdRulesLint prints every finding as "file:line: severity: set X:
// message" and fails when one is an error: those are what the config load
// refuses, so a CI step running lint stops the same files the gateway
// would. Warnings alone exit 0.
func cmdRulesLint(path string, out io.Writer) (int, error) {
	findings, err := rules.LintFile(path)
	if err != nil {
		return exitFailure, err
	}
	errs := 0
	for _, f := range findings {
		fmt.Fprintln(out, f.String())
		if f.Severity == rules.SeverityError {
			errs++
		}
	}
	if errs > 0 {
		return exitFailure, fmt.Errorf("%s: %d error(s), %d warning(s)", path, errs, len(findings)-errs)
	}
	return exitSuccess, nil
}

// cmdRulesExplain prints what the body read from in would become under
// the set, with the Tokengate-Injected header the gateway would send (the
// same function renders both). The file is loaded as the gateway loads it,
// so a file the config load refuses is refused here too.
func cmdRulesExplain(a rulesArgs, in io.Reader, out io.Writer) (int, error) {
	f, err := rules.Load(a.path)
	if err != nil {
		return exitFailure, err
	}
	if err := rules.LintError(rules.Lint(f)); err != nil {
		return exitFailure, err
	}
	data, err := io.ReadAll(io.LimitReader(in, maxExplainBody+1))
	if err != nil {
		return exitFailure, fmt.Errorf("reading the body: %w", err)
	}
	if len(data) > maxExplainBody {
		return exitFailure, fmt.Errorf("the body is larger than %d bytes", maxExplainBody)
	}
	r, err := explain.Explain(context.Background(), f, a.set, data, explain.Options{ContentType: a.contentType, Brand: a.brand,
		Header: injectedHeader, OutboundGuard: explainGuard})
	if err != nil {
		return exitFailure, err
	}
	if a.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return exitSuccess, enc.Encode(r)
	}
	return exitSuccess, r.WriteText(out)
}

// explainGuard is the outbound PAN guard's look at a body, as the
// detokenize handler runs it (outboundPANGuard): the body only, since
// explain has no query string or headers.
func explainGuard(set *rules.Outbound, kind body.Kind, doc body.Doc) (string, bool) {
	return docPAN(set, kind, doc)
}
