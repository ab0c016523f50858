package caddymodule

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeShellBlocks returns the README's ```sh blocks, each as its lines.
func readmeShellBlocks(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case !in && line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// TestREADMEBlocksPaste: the README's first command is ./quickstart, and no
// command in a shell block holds a placeholder (tok_3bX..., eyJhbGci...,
// <token>) that fails when pasted; comments may show abbreviated output.
// .ci/readme-quickstart runs the quick start's blocks for real.
func TestREADMEBlocksPaste(t *testing.T) {
	blocks := readmeShellBlocks(t)
	if len(blocks) == 0 || !strings.HasPrefix(blocks[0][0], "./quickstart") {
		t.Fatalf("the README's first shell block is not ./quickstart: %q", blocks[0])
	}
	if fi, err := os.Stat("../quickstart"); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("./quickstart is not an executable file: %v", err)
	}
	comment := regexp.MustCompile(`(^|\s)#.*$`)
	placeholder := regexp.MustCompile(`[^/.]\.\.\.|<[a-z_-]+>`) // "./..." is a Go package pattern
	for _, block := range blocks {
		for _, line := range block {
			if cmd := comment.ReplaceAllString(line, ""); placeholder.MatchString(cmd) {
				t.Errorf("a README command holds a placeholder: %s", line)
			}
		}
	}
}

// TestSeveralGatewaysPortsAreNotTheQuickStarts: the ports the README's
// several gateways use (Caddyfile.shared.example's defaults for A, the
// README's environment for B) and the quick start's (Caddyfile.example and
// Caddy's default admin port) are disjoint. Caddy binds with SO_REUSEPORT,
// so a gateway started on a port in use gets no error, and checkouts
// alternated silently between the two gateways.
func TestSeveralGatewaysPortsAreNotTheQuickStarts(t *testing.T) {
	read := func(path string) string {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	quick := map[string]bool{"2019": true} // Caddy's default admin endpoint
	for _, m := range regexp.MustCompile(`(?m)^:(\d+) \{`).FindAllStringSubmatch(read("../Caddyfile.example"), -1) {
		quick[m[1]] = true
	}
	var several []string
	for _, m := range regexp.MustCompile(`\{\$(?:GATEWAY_ADMIN|INBOUND_PORT|OUTBOUND_PORT|PSP_PORT):(?:localhost:)?(\d+)\}`).FindAllStringSubmatch(read("../Caddyfile.shared.example"), -1) {
		several = append(several, m[1])
	}
	for _, block := range readmeShellBlocks(t) {
		text := strings.Join(block, "\n")
		if !strings.Contains(text, "Caddyfile.shared.example") {
			continue
		}
		for _, m := range regexp.MustCompile(`(?:GATEWAY_ADMIN=localhost:|_PORT=)(\d+)`).FindAllStringSubmatch(text, -1) {
			several = append(several, m[1])
		}
	}
	if len(quick) < 6 || len(several) < 8 {
		t.Fatalf("found too few ports to compare: quick start %v, several gateways %v", quick, several)
	}
	seen := map[string]bool{}
	for _, p := range several {
		if quick[p] {
			t.Errorf("port %s is the quick start's and the several gateways'", p)
		}
		if seen[p] {
			t.Errorf("port %s is used twice by the several gateways", p)
		}
		seen[p] = true
	}
}
