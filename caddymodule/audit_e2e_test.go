package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/audit"
	"github.com/tokengate/tokengate/card"
	"github.com/tokengate/tokengate/keys"
)

// TestAuditTrailEndToEnd is issue 19's audit "done when", through a real
// Caddy and the real file sink (no test recorder): N detokenizations give N
// detokenize entries in the file with their fields and no card data, a
// purge through the admin endpoint adds its entry, `audit verify` passes,
// and each tampering of the file (an entry edited, deleted, inserted,
// reordered, the chain cut and re-chained without the key, its tail cut) is
// named by `audit verify`.
func TestAuditTrailEndToEnd(t *testing.T) {
	g := &gateway{t: t, dir: t.TempDir()}
	path := filepath.Join(g.dir, "audit", "audit.jsonl")
	global := "audit file {\n\t\t\tpath " + path + "\n\t\t\tcheckpoint_every 4\n\t\t}"
	psp := startCountingPSP(t, g)
	g.start(global, auditSites)

	const n = 9
	var secrets, tokens []string
	for i := range n {
		partial := "4" + fmt.Sprintf("%014d", mrand.Int64N(1e14))
		pan := partial + string(card.LuhnDigit(partial))
		cvv := fmt.Sprintf("%03d", mrand.IntN(1000))
		in := g.post(inboundURL+"/checkout", jsonCT, strings.Replace(checkoutJSON(pan), `"cvc":"`+testCVV+`"`, `"cvc":"`+cvv+`"`, 1))
		if in.status != http.StatusOK {
			t.Fatalf("checkout %d: %d %s", i, in.status, in.body)
		}
		tokens = append(tokens, str(decode(t, in.body), "card.number"))
		out := g.post(outboundURL+"/payments", jsonCT, in.body, "X-Tokengate-Api-Key", apiKeyA)
		if out.status != http.StatusOK {
			t.Fatalf("payment %d: %d %s", i, out.status, out.body)
		}
		got := decode(t, out.body)
		secrets = append(secrets, pan, cvv, str(got, "card.number"), str(got, "card.cryptogram"))
	}
	if psp.count() != n {
		t.Fatalf("the processor received %d payments, want %d", psp.count(), n)
	}
	// A purge of one token through the admin endpoint is audited too.
	if out, _, err := runTokengate(t, "purge", "--tenant", "tenant_a", "--tokens", tokens[0], "--address", g.addr("localhost:2999")); err != nil || !strings.Contains(out, "1 erased") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if err := caddy.Stop(); err != nil { // the sink closes with a checkpoint
		t.Fatal(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var entries []audit.Entry
	detok, purges := 0, 0
	for i, line := range lines {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		entries = append(entries, e)
		switch e.Action {
		case audit.ActionDetokenize:
			if e.Outcome != audit.OutcomeOK || e.Tenant != "tenant_a" || e.RuleSet != "psp" || e.APIKey == "" || e.Destination == "" ||
				!uuidRE.MatchString(e.RequestID) || len(e.TraceID) != 32 || len(e.Tokens) != 1 || e.Tokens[0].Token != tokens[detok] ||
				e.Tokens[0].Became == "" || e.Hash == "" || e.Prev == "" || e.Seq != uint64(i+1) {
				t.Errorf("line %d: %s", i+1, line)
			}
			detok++
		case audit.ActionPurge:
			if len(e.Tokens) != 1 || e.Tokens[0].Token != tokens[0] || e.Tenant != "tenant_a" {
				t.Errorf("purge entry: %s", line)
			}
			purges++
		}
	}
	if detok != n || purges != 1 {
		t.Fatalf("%d detokenize and %d purge entries in the file, want %d and 1", detok, purges, n)
	}
	assertNoCardData(t, entries, secrets)

	keyset := keys.Options{File: filepath.Join(g.dir, "dev-keyset.json")}
	verify := func(content []string) error {
		t.Helper()
		if err := os.WriteFile(path, []byte(strings.Join(content, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := cmdAudit(context.Background(), "verify", auditArgs{file: path, keyset: keyset}, &bytes.Buffer{})
		return err
	}
	if err := verify(lines); err != nil {
		t.Fatalf("verify of the untouched trail: %v", err)
	}

	// The third detokenize entry, by line.
	at := 0
	for i, e := range entries {
		if e.Action == audit.ActionDetokenize && e.Tokens[0].Token == tokens[2] {
			at = i
		}
	}
	edited := func() []string {
		c := append([]string(nil), lines...)
		c[at] = strings.Replace(c[at], `"tenant_a"`, `"tenant_b"`, 1)
		return c
	}
	cases := []struct {
		name    string
		content []string
		want    string
	}{
		{"edited", edited(), "changed"},
		{"deleted", append(append([]string(nil), lines[:at]...), lines[at+1:]...), "removed"},
		{"inserted", append(append(append([]string(nil), lines[:at]...), lines[at-1]), lines[at:]...), ""},
		{"reordered", func() []string {
			c := append([]string(nil), lines...)
			c[at], c[at+1] = c[at+1], c[at]
			return c
		}(), ""},
		{"re-chained without the key", rechain(t, edited(), at), "checkpoint"},
		{"tail cut", lines[:len(lines)-3], "truncated"},
	}
	for _, c := range cases {
		err := verify(c.content)
		if err == nil {
			t.Errorf("%s: verify passed", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: verify said %v, want %q", c.name, err, c.want)
		}
		// It names the first entry that is wrong: the tampered line or,
		// for a re-chained trail, the first checkpoint after it.
		if c.name != "tail cut" && !strings.Contains(err.Error(), path+":") {
			t.Errorf("%s: verify does not name the line: %v", c.name, err)
		}
	}
}

// rechain recomputes every entry's prev and hash from line at on, as someone
// without the checkpoint key would after editing it: only a checkpoint's
// MAC (or the head) can tell.
func rechain(t *testing.T, lines []string, at int) []string {
	t.Helper()
	out := append([]string(nil), lines...)
	prev := ""
	for i := range out {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(out[i]))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if i >= at {
			m["prev"] = prev
			delete(m, "hash")
			raw, _ := json.Marshal(m)
			h, err := audit.HashOf(raw)
			if err != nil {
				t.Fatal(err)
			}
			m["hash"] = h
			raw, _ = json.Marshal(m)
			out[i] = string(raw)
		}
		prev = m["hash"].(string)
	}
	return out
}
