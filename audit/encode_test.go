package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// partial is a BatchStore that writes the first `whole` lines of each
// batch and fails the rest.
type partial struct {
	mu      sync.Mutex
	whole   int
	batches [][]string
}

func (p *partial) AppendBatch(_ context.Context, lines [][]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b []string
	for _, l := range lines {
		b = append(b, string(l))
	}
	p.batches = append(p.batches, b)
	if len(lines) > p.whole {
		return p.whole, errors.New("disk full")
	}
	return len(lines), nil
}
func (p *partial) Append(ctx context.Context, l []byte) error {
	_, err := p.AppendBatch(ctx, [][]byte{l})
	return err
}
func (p *partial) Checkpoint(context.Context, []byte, Head) (bool, error) { return true, nil }
func (p *partial) Sync() error                                            { return nil }
func (p *partial) Close() error                                           { return nil }

// TestGroupCommitFailure: the entries of a batch are written with one
// write; those written whole succeed, the others get the error (fail
// closed) or are counted (fail open), and the chain goes on after the
// last line written.
func TestGroupCommitFailure(t *testing.T) {
	for _, open := range []bool{false, true} {
		store := &partial{whole: 2}
		var mu sync.Mutex
		failures := 0
		c, err := NewChain(context.Background(), store, Tail{Last: &Entry{Seq: 10, Hash: "h10"}}, Options{Key: testKey, Every: 100, Interval: time.Hour,
			FailOpen: open, OnFailure: func(error) { mu.Lock(); failures++; mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		// Hold the chain while 5 callers queue: they form one batch.
		const n = 5
		c.mu.Lock()
		errs := make(chan error, n)
		for range n {
			go func() { errs <- c.Record(context.Background(), Entry{Action: ActionReveal, Tenant: "acme"}) }()
		}
		for queued := 0; queued < n; {
			time.Sleep(time.Millisecond)
			c.qmu.Lock()
			if c.open != nil {
				queued = len(c.open.entries)
			}
			c.qmu.Unlock()
		}
		c.mu.Unlock()
		failed := 0
		for range n {
			if err := <-errs; err != nil {
				if !strings.Contains(err.Error(), "disk full") {
					t.Error(err)
				}
				failed++
			}
		}
		if len(store.batches) != 1 || len(store.batches[0]) != n {
			t.Fatalf("fail_open %v: batches %v, want one of %d lines", open, store.batches, n)
		}
		wantFailed := n - store.whole
		if open {
			wantFailed = 0
		}
		if failed != wantFailed || failures != n-store.whole {
			t.Errorf("fail_open %v: %d callers failed (want %d), %d failures reported (want %d)", open, failed, wantFailed, failures, n-store.whole)
		}
		if c.Seq() != 12 {
			t.Errorf("fail_open %v: the chain is at seq %d, want 12 (two lines written)", open, c.Seq())
		}
		// The next entry follows the last line written.
		store.whole = 100
		if err := c.Record(context.Background(), Entry{Action: ActionReveal}); err != nil {
			t.Fatal(err)
		}
		var second, next Entry
		json.Unmarshal([]byte(store.batches[0][1]), &second)
		json.Unmarshal([]byte(store.batches[1][0]), &next)
		if next.Seq != 13 || next.Prev != second.Hash {
			t.Errorf("fail_open %v: next entry seq %d prev %s, want 13 after %s", open, next.Seq, next.Prev, second.Hash)
		}
		c.Close()
	}
}
