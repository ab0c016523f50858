package caddymodule

import (
	"errors"
	"fmt"
	"io"

	"github.com/tokengate/tokengate/rules"
)

// cmdRules runs caddy tokengate rules <sub> --rules <file>: checks of a
// rules file that need no vault, keys, network or running gateway.
func cmdRules(sub, path string, out io.Writer) (int, error) {
	if path == "" {
		return exitFailure, errors.New("usage: caddy tokengate rules lint --rules <file>")
	}
	switch sub {
	case "lint":
		return cmdRulesLint(path, out)
	}
	return exitFailure, fmt.Errorf("unknown rules subcommand %q (want lint)", sub)
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
