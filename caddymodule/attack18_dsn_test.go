package caddymodule

import (
	"strings"
	"testing"
)

// TestAttackValidateDSNPassword: `caddy validate` (and Caddy's log of a
// refused load) printed a keyword/value DSN's password when the DSN did
// not parse and its password was written in a form pgconn's redaction
// does not know (spaces around '=', an escaped quote).
func TestAttackValidateDSNPassword(t *testing.T) {
	for _, dsn := range []string{
		"host=127.0.0.1 port=notaport password = s3cretpw",
		`host=127.0.0.1 port=notaport password='a\'b s3cretpw'`,
	} {
		p := &PostgresVault{DSN: dsn, dsn: dsn}
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), "vault postgres: dsn") {
			t.Fatalf("validate: %v; want the DSN refused", err)
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("validate shows the password: %v", err)
		}
	}
}
