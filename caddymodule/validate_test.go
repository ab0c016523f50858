package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/tokengate/tokengate/vault/vaulttest"
)

// validateEnv names the JSON config file TestValidateProcess validates: the
// validate tests run this test binary again as `caddy validate` would run,
// in a process of its own, so that a bbolt lock or a file created shows
// as it would to an operator.
const validateEnv = "TOKENGATE_TEST_VALIDATE_CONFIG"

// TestValidateProcess is not a test: it is the process the validate tests
// start. It validates the config as `caddy validate` does (caddy.Validate:
// Provision and Validate, never Start) and exits 0, or 3 with the error.
func TestValidateProcess(t *testing.T) {
	path := os.Getenv(validateEnv)
	if path == "" {
		t.Skip("run by the validate tests")
	}
	raw, err := os.ReadFile(path)
	if err == nil {
		var cfg caddy.Config
		if err = json.Unmarshal(raw, &cfg); err == nil {
			err = caddy.Validate(&cfg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "VALIDATE:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// validateInProcess adapts cfg (a Caddyfile, its named ports made real as
// for g) and validates it in a process of its own, with Caddy's data
// directory (XDG_DATA_HOME) at dataHome. It returns the error the process
// printed, or nil.
func (g *gateway) validateInProcess(cfg, dataHome string) error {
	g.t.Helper()
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(g.addr(cfg)), nil)
	if err != nil {
		g.t.Fatalf("adapting: %v", err)
	}
	path := filepath.Join(g.t.TempDir(), "validate.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		g.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestValidateProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), validateEnv+"="+path, "XDG_DATA_HOME="+dataHome, "XDG_CONFIG_HOME="+filepath.Join(dataHome, "config"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if took := time.Since(start); took > 20*time.Second {
		g.t.Errorf("validate took %s (a lock it waited for?)", took)
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// tree lists the files and directories under dir with their sizes and
// modification times, leaving out the names in skip.
func tree(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && path == dir {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if slices.Contains(skip, d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d %s", path, fi.Size(), fi.ModTime().Format(time.RFC3339Nano)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestValidateRunningBoltGateway: `caddy validate` against the config of a
// running gateway on a bbolt vault succeeds at once (it does not wait for
// the file's lock, which the gateway holds) and changes nothing: no file in
// the gateway's directory changes, and the gateway serves on.
func TestValidateRunningBoltGateway(t *testing.T) {
	g := startGateway(t, "")
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK {
		t.Fatalf("tokenize: %d %s", r.status, r.body)
	}
	cfg := g.config("", defaultSites)
	before := tree(t, g.dir, "caddy.log")
	if err := g.validateInProcess(cfg, t.TempDir()); err != nil {
		t.Fatalf("validate against a running gateway's config: %v", err)
	}
	if after := tree(t, g.dir, "caddy.log"); !slices.Equal(before, after) {
		t.Fatalf("validate changed the gateway's directory:\nbefore %v\nafter  %v", before, after)
	}
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != http.StatusOK {
		t.Fatalf("tokenize after validate: %d %s", r.status, r.body)
	}
}

// TestValidateFreshDataDir: validating a config with the default vault
// (and so the default development keyset) in a data directory that does
// not exist yet creates nothing: no vault.db, no dev-keyset.json, no
// directory.
func TestValidateFreshDataDir(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	rulesPath := g.copyFile("testdata/rules.yaml")
	cfg := fmt.Sprintf(`{
	admin off
	tokengate {
		rules %s
		api_key %s tenant_a
	}
}
:9080 {
	tokenize
	respond "{http.request.body}"
}`, rulesPath, apiKeyA)
	data := filepath.Join(g.dir, "data")
	if err := g.validateInProcess(cfg, data); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if files := tree(t, data); len(files) > 0 {
		t.Fatalf("validate created %v", files)
	}
}

// TestValidateEmptyPostgres: validating a config with a PostgreSQL vault
// (and Redis for the CVVs) against an empty database creates no table.
func TestValidateEmptyPostgres(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	tables := func() []string {
		rows, err := pgConn(t, dsn).Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	if before := tables(); len(before) > 0 {
		t.Fatalf("the test database is not empty: %v", before)
	}
	g := &gateway{t: t, dir: t.TempDir(), vault: "dev_keyset_file " + filepath.Join(t.TempDir(), "keys", "dev.json") +
		"\n\t\tvault postgres {\n\t\t\tdsn " + dsn + "\n\t\t}\n\t\tcvv_store redis {\n\t\t\tprefix " + t.Name() + ":\n\t\t}"}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	if err := g.validateInProcess(g.config("", defaultSites), t.TempDir()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if after := tables(); len(after) > 0 {
		t.Fatalf("validate created tables: %v", after)
	}
	// And a gateway started on it creates them, as before.
	g.load(g.config("", defaultSites))
	if after := tables(); !slices.Contains(after, "tokengate_records") {
		t.Fatalf("the gateway did not migrate the database at start: %v", after)
	}
}

// TestValidateRefusals: what validate refused before it stopped opening
// storage it still refuses, with the same words: a bad rules file, a route
// that forwards what tokenize refused, a keyset file that does not parse,
// a keyset wrapped with a key-encrypting key that is not set, a DSN that
// does not parse.
func TestValidateRefusals(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	badRules := g.writeFile("bad.yaml", "inbound:\n  checkout:\n    tenant: [\n")
	badKeyset := g.writeFile("keyset.json", `{"not": "a keyset"}`)
	for _, c := range []struct {
		name, global, sites, want string
	}{
		{"rules", "", defaultSites, "bad.yaml"},
		{"route", "", `
:9080 {
	tokenize
	respond "ok"
	handle_errors {
		reverse_proxy localhost:9082
	}
}`, "handle_errors"},
		{"keyset", "keyset_file " + badKeyset, defaultSites, "keyset.json"},
		{"kek", "keyset_file " + badKeyset + "\n\t\tkek_env TOKENGATE_TEST_NO_SUCH_KEK", defaultSites, "TOKENGATE_TEST_NO_SUCH_KEK is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := g.config(c.global, c.sites)
			if c.name == "rules" {
				cfg = strings.Replace(cfg, "rules "+filepath.Join(g.dir, "rules.yaml"), "rules "+badRules, 1)
			}
			err := g.validateInProcess(cfg, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("validate: %v; want an error containing %q", err, c.want)
			}
		})
	}
	t.Run("dsn", func(t *testing.T) {
		pg := &gateway{t: t, dir: g.dir, logFile: g.logFile, vault: "vault postgres {\n\t\t\tdsn \"postgres://u@127.0.0.1:notaport/db\"\n\t\t}"}
		err := pg.validateInProcess(pg.config("", defaultSites), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "vault postgres: dsn") {
			t.Fatalf("validate: %v; want the DSN refused", err)
		}
	})
}
