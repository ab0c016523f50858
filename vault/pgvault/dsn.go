package pgvault

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DSNError is a DSN that does not parse, told without the DSN. pgconn's
// ParseConfigError quotes the DSN with its password redacted by regular
// expressions (pgconn config.go, redactPW) that miss forms libpq accepts:
// spaces around '=' ("password = secret") and a quoted value with an
// escaped quote ('a\'b secret'); those came back word for word. Error
// gives only pgconn's reason (what is after the quoted DSN); Unwrap still
// gives the ParseConfigError, so callers can tell a DSN that does not
// parse (retrying cannot fix it) from a database that does not answer.
type DSNError struct{ err *pgconn.ParseConfigError }

func (e *DSNError) Error() string {
	// ParseConfigError's text is "cannot parse `<dsn>`: <reason>"; the
	// reason holds no backtick, so the last "`: " ends the DSN even if
	// the password holds one.
	msg := e.err.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return "does not parse: " + msg[i+3:]
	}
	return "does not parse"
}

func (e *DSNError) Unwrap() error { return e.err }

// ParseDSN parses dsn as pgxpool does, with an error that never holds the
// DSN (see DSNError).
func ParseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, &DSNError{pe}
		}
		// pgxpool's own settings (pool_max_conns=x): its message names
		// the setting and the value, never the password.
		return nil, err
	}
	return cfg, nil
}
