package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCanonEntryFields: canonEntry has Entry's JSON fields but hash, in
// sorted order (TokenUse's likewise), or the fast encoding would not be
// the canonical one.
func TestCanonEntryFields(t *testing.T) {
	names := func(typ reflect.Type, skip string) []string {
		var out []string
		for f := range typ.Fields() {
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if n != skip {
				out = append(out, n+" "+f.Tag.Get("json")+" "+f.Type.Kind().String())
			}
		}
		return out
	}
	for _, c := range []struct{ mirror, of reflect.Type }{
		{reflect.TypeFor[canonEntry](), reflect.TypeFor[Entry]()},
		{reflect.TypeFor[canonToken](), reflect.TypeFor[TokenUse]()},
	} {
		got, want := names(c.mirror, ""), names(c.of, "hash")
		if !slices.IsSorted(got) {
			t.Errorf("%s's fields are not in sorted order: %v", c.mirror, got)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s has %v, %s %v", c.mirror, got, c.of, want)
		}
	}
}

// randString draws from what entries hold and what JSON escapes: unicode,
// HTML characters, quotes, controls, U+2028, invalid UTF-8, empty.
func randString(r *rand.Rand) string {
	parts := []string{"", "acme", "tok_4cU7XyZb9Q", "<script>&amp;", `"quoted"\`, "é日本語🙂", "\u2028\u2029", "\x00\x1f\t\n", "\xff\xfe", "a.b[0].c", " ", "\ufffd"}
	var b strings.Builder
	for range r.IntN(4) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

func randEntry(r *rand.Rand) Entry {
	s := func() string { return randString(r) }
	e := Entry{
		Time: time.Unix(r.Int64N(4e9), r.Int64N(1e9)), Action: s(), Outcome: s(), Tenant: s(), APIKey: s(),
		RuleSet: s(), Destination: s(), RequestID: s(), TraceID: s(), Gateway: s(),
	}
	if r.IntN(4) == 0 {
		e.Time = time.Time{}
	}
	for range r.IntN(4) {
		e.Tokens = append(e.Tokens, TokenUse{Token: s(), Field: s(), Became: s(), Reason: s()})
	}
	switch r.IntN(3) {
	case 1:
		e.Detail = map[string]string{}
	case 2:
		e.Detail = map[string]string{}
		for range 1 + r.IntN(5) {
			e.Detail[s()] = s()
		}
	}
	return e
}

// TestFastEncodingIsCanonical: for random entries, the bytes the chain
// hashes are Canonical of the line it writes (and of the line the former
// encoding, json.Marshal(Entry), wrote), so both verify with the
// unchanged verifier.
func TestFastEncodingIsCanonical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for i := range 5000 {
		e := randEntry(r)
		e.Seq, e.Prev, e.Hash = uint64(i+1), randString(r), ""
		e.Time = e.Time.UTC()
		if validUTF8(&e) {
			fast++
		}
		hashed, err := canonicalOf(&e)
		if err != nil {
			t.Fatal(err)
		}
		x := e
		line, err := appendLine(nil, &x)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Canonical(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !bytes.Equal(c, hashed) {
			t.Fatalf("entry %d: hashed\n%s\nCanonical of the line\n%s", i, hashed, c)
		}
		h, _ := HashOf(line)
		if h != x.Hash {
			t.Fatalf("entry %d: line %s: hash %s, HashOf %s", i, line, x.Hash, h)
		}
		old, _ := json.Marshal(e)
		if oc, _ := Canonical(old); !bytes.Equal(oc, hashed) {
			t.Fatalf("entry %d: Canonical of the former line\n%s\nhashed\n%s", i, oc, hashed)
		}
		var back Entry
		if err := json.Unmarshal(line, &back); err != nil || back.Hash != x.Hash || back.Seq != e.Seq {
			t.Fatalf("entry %d: line %s does not read back: %v", i, line, err)
		}
	}
	if fast < 500 {
		t.Errorf("only %d entries took the fast path", fast)
	}
}

// TestGroupCommitVerifies: random entries recorded concurrently (batches
// crossing checkpoints) give a chain that verifies, with every entry once.
func TestGroupCommitVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Gateway: "gw1", Key: testKey, Every: 7, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range each {
				e := randEntry(r)
				e.Action = ActionDetokenize
				if err := c.Record(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFiles(path, testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries-rep.Checkpoints != workers*each {
		t.Fatalf("%d entries besides checkpoints, want %d", rep.Entries-rep.Checkpoints, workers*each)
	}
	if want := 1 + (workers*each+6)/7; rep.Checkpoints != want {
		t.Errorf("%d checkpoints, want %d (one every 7 entries, the first)", rep.Checkpoints, want)
	}
}
