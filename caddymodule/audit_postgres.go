package caddymodule

import (
	"context"
	"errors"
	"io"

	"github.com/tokengate/tokengate/audit"
)

// verifyPostgresAudit verifies a PostgreSQL audit sink's chain.
func verifyPostgresAudit(ctx context.Context, args auditArgs, key []byte) (string, audit.Report, error) {
	return "", audit.Report{}, errors.New("audit verify --dsn: the PostgreSQL audit sink is not built yet")
}

// searchPostgresAudit searches a PostgreSQL audit sink's chain.
func searchPostgresAudit(ctx context.Context, args auditArgs, out io.Writer) (int, error) {
	return exitFailure, errors.New("audit search --dsn: the PostgreSQL audit sink is not built yet")
}
