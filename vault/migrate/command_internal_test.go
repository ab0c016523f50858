package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestMigrateHidesDSN: whatever a driver message quotes of the DSN, the
// error shown has neither the DSN nor its password.
func TestMigrateHidesDSN(t *testing.T) {
	dsn := "postgres://tokengate:s3cr3t-pw@db.example:5432/vault?sslmode=disable"
	err := hideDSN(errors.New("cannot parse `"+dsn+"`: password s3cr3t-pw rejected"), dsn)
	if strings.Contains(err.Error(), "s3cr3t-pw") || strings.Contains(err.Error(), dsn) {
		t.Fatalf("shown: %v", err)
	}
	// Through Open, with a DSN pgx cannot parse.
	_, err = Open(context.Background(), "postgres:postgres://tokengate:s3cr3t-pw@db.example:notaport/vault", false)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") || !strings.HasPrefix(err.Error(), "opening PostgreSQL") {
		t.Fatalf("Open: %v", err)
	}
	// A bare DSN is not taken for a backend's name and echoed.
	_, err = Open(context.Background(), "postgres://tokengate:s3cr3t-pw@db.example/vault", false)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("bare DSN: %v", err)
	}
}
