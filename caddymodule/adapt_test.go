package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCaddyfileAdapt pins the JSON every Caddyfile option turns into, as
// Caddy's own caddytest/integration golden files do.
func TestCaddyfileAdapt(t *testing.T) {
	in, err := os.ReadFile("testdata/full.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		t.Logf("warning: %s", w.Message)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/full.caddyfile.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(pretty.Bytes())) {
		t.Fatalf("adapted JSON differs from %s (run go test -run TestCaddyfileAdapt -update):\n%s", golden, pretty.String())
	}
}
