package pgvault

import (
	"context"
	"strings"
	"testing"
)

// TestAttackDSNPasswordInParseError: pgconn's ParseConfigError redacts the
// password only in the forms its regular expressions know; libpq's
// keyword/value syntax also allows spaces around '=' and quoted values with
// escaped quotes, and those came back in the error word for word (an error
// `caddy validate` prints and Caddy logs).
func TestAttackDSNPasswordInParseError(t *testing.T) {
	for _, dsn := range []string{
		"host=127.0.0.1 port=notaport password = s3cretpw",
		"host=127.0.0.1 password= s3cretpw sslmode=bogus",
		`host=127.0.0.1 port=notaport password='a\'b s3cretpw'`,
		"host=127.0.0.1 password\t=s3cretpw port=x",
	} {
		_, err := Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("%q opened", dsn)
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
