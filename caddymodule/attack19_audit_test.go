package caddymodule

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/audit"
)

// TestAttack19SearchShowsTamperedEntries: an insider edits an entry (another
// tenant, a token removed). audit search printed it as any other, exit 0:
// an investigator reading search's answer was not told. Search now checks
// what it can without the key (each entry's hash, its link to the one
// before) and exits non-zero naming the first entry that does not verify,
// after printing what matched.
func TestAttack19SearchShowsTamperedEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := audit.OpenFileChain(context.Background(), path, audit.FileOptions{}, audit.Options{Gateway: "gw", Key: bytes.Repeat([]byte{1}, 32), Every: 5, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "acme", "other", "acme"} {
		if err := c.Record(context.Background(), audit.Entry{Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK, Tenant: tenant,
			Tokens: []audit.TokenUse{{Token: "tok_" + tenant, Became: "pan"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	search := func() (string, int, error) {
		var out bytes.Buffer
		code, err := cmdAudit(context.Background(), "search", auditArgs{file: path, filter: audit.Filter{Tenant: "acme"}}, &out)
		return out.String(), code, err
	}
	if out, code, err := search(); code != exitSuccess || err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("intact chain: code %d err %v\n%s", code, err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The entry of tenant "other" rewritten as acme's: its hash no longer
	// matches.
	forged := strings.Replace(string(data), `"tenant":"other"`, `"tenant":"acme"`, 1)
	if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code, err := search()
	if code == exitSuccess || err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("search printed a changed entry without saying so: code %d err %v\n%s", code, err, out)
	}
	t.Logf("search: %v", err)
}
