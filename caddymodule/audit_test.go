package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/keys"
	"github.com/tokengate/tokengate/vault/vaulttest"
)

// The file sink through a real Caddy: opened at Start (validate creates
// nothing), a config_load entry first, entries chained, closed with a
// checkpoint at stop; `audit verify` passes, then names the entry edited,
// and a gateway refuses to continue the edited chain.
func TestAuditFileSink(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "caddy.log")
	path := filepath.Join(g.dir, "audit", "audit.jsonl")
	global := "audit file {\n\t\t\tpath " + path + "\n\t\t\tcheckpoint_every 5\n\t\t\troll_size 10MiB\n\t\t\troll_keep_for 8760h\n\t\t}"

	// caddy validate provisions the sink and touches nothing.
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(g.addr(g.config(global, defaultSites))), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Admin = &caddy.AdminConfig{Disabled: true}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("validate created the audit directory: %v", err)
	}
	if !strings.Contains(string(raw), `"audit":{"checkpoint_every":5,"path":"`+path+`","roll_keep_days":365,"roll_size_mb":10,"sink":"file"}`) {
		t.Fatalf("adapted: %s", raw)
	}

	g.start(global, defaultSites)
	a := g.app()
	if _, ok := a.audit.(*audit.Chain); !ok {
		t.Fatalf("a.audit is %T", a.audit)
	}
	for i := range 12 {
		e := audit.Entry{Action: audit.ActionDetokenize, Outcome: audit.OutcomeOK, Tenant: "tenant_a", Tokens: []audit.TokenUse{{Token: "tok_" + string(rune('a'+i)), Became: "network_token"}}}
		if err := a.audit.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var second audit.Entry
	json.Unmarshal([]byte(lines[1]), &second)
	if second.Action != audit.ActionConfigLoad || second.Detail["rules_sha256"] == "" || second.Detail["keyset_key_ids"] == "" || second.Detail["keyset_primary"] == "" {
		t.Fatalf("second entry: %s", lines[1])
	}

	keyset := keys.Options{File: filepath.Join(g.dir, "dev-keyset.json")}
	var out bytes.Buffer
	if code, err := cmdAudit(context.Background(), "verify", auditArgs{file: path, keyset: keyset}, &out); err != nil || code != exitSuccess {
		t.Fatalf("verify: %d %v", code, err)
	}
	// chain start, config_load, 12 entries, 2 checkpoints at 5, the close's.
	if !strings.Contains(out.String(), "verified 17 entries") || !strings.Contains(out.String(), "4 checkpoints") {
		t.Fatalf("verify said: %s", out.String())
	}
	out.Reset()
	if code, err := cmdAudit(context.Background(), "search", auditArgs{file: path, filter: audit.Filter{Token: "tok_c"}}, &out); err != nil || code != exitSuccess ||
		strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), `"tok_c"`) {
		t.Fatalf("search: %d %v %s", code, err, out.String())
	}

	lines[4] = strings.Replace(lines[4], `"tenant_a"`, `"tenant_b"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	_, err = cmdAudit(context.Background(), "verify", auditArgs{file: path, keyset: keyset}, &out)
	if err == nil || !strings.Contains(err.Error(), path+":5 (seq 5): changed") {
		t.Fatalf("verify of the edited file: %v", err)
	}
	// A gateway refuses to continue it, naming the file and the line.
	g.loadError(g.config(global, defaultSites), path)
	g.loadError(g.config(global, defaultSites), "line 5 (seq 5): changed")
}

// A sink that cannot write: without fail_open the gateway is not ready
// (503, retried); with it, the gateway serves and counts the failures.
func TestAuditFileSinkCannotWrite(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	g := startGateway(t, "audit file {\n\t\t\tpath /dev/full\n\t\t}")
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != 503 {
		t.Fatalf("fail closed: %d %s", r.status, r.body)
	}
	if c := g.app().Readiness().Components; !strings.Contains(mustJSON(t, c), `"name":"audit"`) {
		t.Fatalf("readiness: %s", mustJSON(t, c))
	}
	before := testutil.ToFloat64(auditWriteFailures)
	g.load(g.config("audit file {\n\t\t\tpath /dev/full\n\t\t\tfail_open\n\t\t}", defaultSites))
	if r := g.post(inboundURL+"/checkout", jsonCT, checkoutJSON(visaPAN)); r.status != 200 {
		t.Fatalf("fail open: %d %s", r.status, r.body)
	}
	if err := g.app().audit.Record(context.Background(), audit.Entry{Action: audit.ActionReveal}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(auditWriteFailures) - before; n < 2 {
		t.Fatalf("tokengate_audit_write_failures_total went up by %v", n)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The PostgreSQL sink through a real Caddy: one chain per gateway name,
// verified and searched by the commands with --dsn.
func TestAuditPostgresSink(t *testing.T) {
	dsn := vaulttest.PostgresDatabase(t)
	g := startGateway(t, "audit postgres {\n\t\t\tdsn "+dsn+"\n\t\t\tgateway gw1\n\t\t\tcheckpoint_every 3\n\t\t}")
	a := g.app()
	for range 7 {
		if err := a.audit.Record(context.Background(), audit.Entry{Action: audit.ActionReveal, Tenant: "tenant_b", Tokens: []audit.TokenUse{{Token: "tok_x", Became: "pan"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	keyset := keys.Options{File: filepath.Join(g.dir, "dev-keyset.json")}
	var out bytes.Buffer
	if code, err := cmdAudit(context.Background(), "verify", auditArgs{dsn: dsn, gateway: "gw1", keyset: keyset}, &out); err != nil || code != exitSuccess ||
		!strings.Contains(out.String(), "gateway gw1: verified 12 entries") {
		t.Fatalf("verify: %d %v %s", code, err, out.String())
	}
	out.Reset()
	if _, err := cmdAudit(context.Background(), "search", auditArgs{dsn: dsn, gateway: "gw1", filter: audit.Filter{Tenant: "tenant_b"}}, &out); err != nil || strings.Count(out.String(), "\n") != 7 {
		t.Fatalf("search: %v %s", err, out.String())
	}
	if _, err := cmdAudit(context.Background(), "verify", auditArgs{dsn: dsn, gateway: "gw2", keyset: keyset}, &out); err == nil || !strings.Contains(err.Error(), "no head row") {
		t.Fatalf("verify of another gateway: %v", err)
	}
}

// The audit directive's errors name the Caddyfile's line.
func TestAuditCaddyfileErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"audit file {\n path /tmp/a.jsonl\n fsync sometimes\n}":         `fsync "sometimes"`,
		"audit file {\n path /tmp/a.jsonl\n roll_size 10KB\n}":          "roll_size",
		"audit file {\n path /tmp/a.jsonl\n checkpoint_every 0\n}":      "checkpoint_every",
		"audit file {\n path /tmp/a.jsonl\n checkpoint_interval 1ms\n}": "checkpoint_interval",
		"audit file {\n path /tmp/a.jsonl\n bogus 1\n}":                 "unrecognized audit file option",
		"audit syslog":                  "unknown tokengate.audit_sinks module",
		"audit postgres {\n gateway\n}": "wrong argument count",
	} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n\ttokengate {\n\t\trules /x\n"+cfg+"\n\t}\n}\n"), nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("%q: %v, want %q with the line", cfg, err, want)
		}
	}
}

// A reload with the same audit file keeps one chain: the new config records
// its config_load on the chain the old one wrote, which is closed once, at
// the stop.
func TestAuditFileSinkReload(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	path := filepath.Join(g.dir, "audit.jsonl")
	global := "audit file {\n\t\t\tpath " + path + "\n\t\t}"
	g.start(global, defaultSites)
	first := g.app().audit
	first.Record(context.Background(), audit.Entry{Action: audit.ActionReveal})
	g.load(g.config(global+"\n\t\tmax_body_size 5MiB", defaultSites))
	if g.app().audit != first {
		t.Fatal("the reload opened another chain")
	}
	g.app().audit.Record(context.Background(), audit.Entry{Action: audit.ActionReveal})
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := cmdAudit(context.Background(), "verify", auditArgs{file: path, keyset: keys.Options{File: filepath.Join(g.dir, "dev-keyset.json")}}, &out); err != nil {
		t.Fatal(err)
	}
	// chain start, config_load, reveal, config_load, reveal, the close's checkpoint.
	if !strings.Contains(out.String(), "verified 6 entries") {
		t.Fatalf("verify: %s", out.String())
	}
}

// The audit file replaced by a directory while the gateway runs: Record
// fails (the caller answers 503); with fail_open it returns nil and the
// failure is counted.
func TestAuditFileReplacedAfterStart(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		g := &gateway{t: t, dir: t.TempDir()}
		path := filepath.Join(g.dir, "audit.jsonl")
		global := "audit file {\n\t\t\tpath " + path + "\n\t\t}"
		if failOpen {
			global = "audit file {\n\t\t\tpath " + path + "\n\t\t\tfail_open\n\t\t}"
		}
		g.start(global, defaultSites)
		os.Rename(path, path+".moved")
		os.Mkdir(path, 0o700)
		before := testutil.ToFloat64(auditWriteFailures)
		err := g.app().audit.Record(context.Background(), audit.Entry{Action: audit.ActionReveal})
		if failOpen != (err == nil) || !failOpen && !strings.Contains(err.Error(), "replaced or removed") {
			t.Fatalf("fail_open %v: Record: %v", failOpen, err)
		}
		if n := testutil.ToFloat64(auditWriteFailures) - before; n != 1 {
			t.Fatalf("fail_open %v: tokengate_audit_write_failures_total went up by %v", failOpen, n)
		}
		caddy.Stop()
	}
}

// The audit flags are registered on caddy tokengate, once.
func TestAuditFlags(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.Flags().String("kek-file", "", "defined by another subcommand")
	addAuditFlags(cmd)
	for _, name := range []string{"file", "dsn", "gateway", "kek-file", "no-head", "token", "tenant", "action", "since", "until"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("no --%s", name)
		}
	}
}
