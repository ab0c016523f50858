package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testKey = bytes.Repeat([]byte{7}, 32)

// writeChain writes n entries to a new file chain in dir with checkpoints
// every `every` entries, closes it, and returns the file's path.
func writeChain(t *testing.T, n, every int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Gateway: "gw1", Key: testKey, Every: every, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := Entry{Action: ActionDetokenize, Outcome: OutcomeOK, Tenant: "acme", Tokens: []TokenUse{{Token: "tok_" + string(rune('a'+i%26)), Became: "pan"}}}
		if err := c.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rechain recomputes seq, prev and hash from line i on, as someone without
// the key would after a change: checkpoints keep their (now wrong) MACs.
func rechain(t *testing.T, lines []string, from int) []string {
	t.Helper()
	var prev string
	var seq uint64
	if from > 0 {
		var e Entry
		json.Unmarshal([]byte(lines[from-1]), &e)
		prev, seq = e.Hash, e.Seq
	}
	for i := from; i < len(lines); i++ {
		var e Entry
		if err := json.Unmarshal([]byte(lines[i]), &e); err != nil {
			t.Fatal(err)
		}
		seq++
		e.Seq, e.Prev, e.Hash = seq, prev, ""
		raw, _ := json.Marshal(e)
		e.Hash, _ = HashOf(raw)
		out, _ := json.Marshal(e)
		lines[i] = string(out)
		prev = e.Hash
	}
	return lines
}

func verifyErr(t *testing.T, path string) *VerifyError {
	t.Helper()
	_, err := VerifyFiles(path, testKey, false)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("verify: want a VerifyError, got %v", err)
	}
	t.Logf("verify: %v", ve)
	return ve
}

func TestChainVerifies(t *testing.T) {
	path := writeChain(t, 25, 10)
	rep, err := VerifyFiles(path, testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	// 1 chain start + 25 entries + checkpoints after 10 and 20 + close.
	if rep.Entries != 29 || rep.Checkpoints != 4 || rep.Unauthenticated != 0 || !rep.MACsChecked || !rep.HeadChecked {
		t.Fatalf("report %+v", rep)
	}
	// The chain continues when the file is opened again.
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey, Every: 10, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c.Seq() != 29 || c.Gateway() != "gw1" {
		t.Fatalf("continued at seq %d gateway %q", c.Seq(), c.Gateway())
	}
	if err := c.Record(context.Background(), Entry{Action: ActionConfigLoad}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if rep, err = VerifyFiles(path, testKey, false); err != nil || rep.Entries != 31 {
		t.Fatalf("after reopen: %+v %v", rep, err)
	}
	// Without the key the MACs are not checked; a wrong key fails.
	if rep, err = VerifyFiles(path, nil, false); err != nil || rep.MACsChecked {
		t.Fatalf("no key: %+v %v", rep, err)
	}
	if _, err = VerifyFiles(path, bytes.Repeat([]byte{8}, 32), false); err == nil || !strings.Contains(err.Error(), "another keyset") {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestTamperEdit(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	lines[5] = strings.Replace(lines[5], `"tenant":"acme"`, `"tenant":"evil"`, 1)
	writeLines(t, path, lines)
	if ve := verifyErr(t, path); ve.Problem != ProblemChanged || ve.Line != 6 || ve.Seq != 6 {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperDelete(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	writeLines(t, path, append(lines[:7:7], lines[8:]...))
	if ve := verifyErr(t, path); ve.Problem != ProblemRemoved || ve.Seq != 9 || ve.Line != 8 {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperInsert(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	// A copy of entry 4 put after it.
	lines = append(lines[:4:4], append([]string{lines[3]}, lines[4:]...)...)
	writeLines(t, path, lines)
	if ve := verifyErr(t, path); ve.Problem != ProblemInserted || ve.Seq != 4 || ve.Line != 5 {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperInsertRechained(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	// A forged entry inserted after seq 4, the rest renumbered and re-hashed.
	lines = append(lines[:4:4], append([]string{lines[3]}, lines[4:]...)...)
	lines = rechain(t, lines, 4)
	writeLines(t, path, lines)
	// The next checkpoint (entry 12, line 13) no longer verifies.
	if ve := verifyErr(t, path); ve.Problem != ProblemMAC || ve.Line != 13 {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperSwap(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	lines[5], lines[6] = lines[6], lines[5]
	writeLines(t, path, lines)
	if ve := verifyErr(t, path); ve.Problem != ProblemReordered || ve.Line != 6 || ve.Seq != 7 {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperTruncateRechain(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	// Entries 5..7 cut, the rest re-chained: caught by the next checkpoint.
	lines = rechain(t, append(lines[:4:4], lines[7:]...), 4)
	writeLines(t, path, lines)
	if ve := verifyErr(t, path); ve.Problem != ProblemMAC {
		t.Fatalf("%+v", ve)
	}
	// Cut from entry 5 on, re-chained, every checkpoint after it dropped:
	// the head says the chain went on.
	path = writeChain(t, 25, 10)
	lines = readLines(t, path)
	var kept []string
	for i, l := range lines {
		if i < 4 || !strings.Contains(l, `"checkpoint"`) && i%2 == 0 {
			kept = append(kept, l)
		}
	}
	writeLines(t, path, rechain(t, kept, 4))
	if ve := verifyErr(t, path); ve.Problem != ProblemTruncated && ve.Problem != ProblemChanged {
		t.Fatalf("%+v", ve)
	}
}

func TestTamperTruncateTail(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	writeLines(t, path, lines[:len(lines)-3]) // the closing checkpoint and two entries
	ve := verifyErr(t, path)
	if ve.Problem != ProblemTruncated || ve.Seq != 29 {
		t.Fatalf("%+v", ve)
	}
	// A gateway refuses to continue it.
	_, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey})
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open: %v", err)
	}
	// Recovery: the file moved away starts a new chain, which records the
	// old head as broken; the old head is kept beside.
	os.Rename(path, path+".bad")
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Gateway: "gw1", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	rep, err := VerifyFiles(path, testKey, false)
	if err != nil || rep.First != 1 || !strings.HasPrefix(rep.StartedAfter, "broken: the files of the chain whose head is seq 29") {
		t.Fatalf("%+v %v", rep, err)
	}
	if kept, _ := filepath.Glob(HeadPath(path) + ".previous-*"); len(kept) != 1 {
		t.Fatalf("old head not kept: %v", kept)
	}
}

func TestOpenRefusesEditedTail(t *testing.T) {
	path := writeChain(t, 25, 10)
	lines := readLines(t, path)
	lines[20] = strings.Replace(lines[20], `"acme"`, `"acmf"`, 1)
	writeLines(t, path, lines)
	_, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey})
	if err == nil || !strings.Contains(err.Error(), "line 21") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open: %v", err)
	}
}

// failing is a store whose writes fail.
type failing struct{ err error }

func (f failing) Append(context.Context, []byte) error                   { return f.err }
func (f failing) Checkpoint(context.Context, []byte, Head) (bool, error) { return true, nil }
func (f failing) Sync() error                                            { return nil }
func (f failing) Close() error                                           { return nil }

func TestFailClosedAndOpen(t *testing.T) {
	boom := errors.New("disk full")
	var failures int
	c, err := NewChain(context.Background(), failing{boom}, Tail{}, Options{Key: testKey, OnFailure: func(error) { failures++ }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(context.Background(), Entry{Action: ActionReveal}); !errors.Is(err, boom) || failures != 1 {
		t.Fatalf("fail closed: %v, %d failures", err, failures)
	}
	c.SetOptions(context.Background(), Options{FailOpen: true, OnFailure: func(error) { failures++ }})
	if err := c.Record(context.Background(), Entry{Action: ActionReveal}); err != nil || failures != 2 {
		t.Fatalf("fail open: %v, %d failures", err, failures)
	}
	c.Close()
}

func TestIntervalCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey, Every: 1000, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Record(context.Background(), Entry{Action: ActionReveal})
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, _ := ReadHead(HeadPath(path))
		if h != nil && h.Seq == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after the interval: head %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSearch(t *testing.T) {
	path := writeChain(t, 5, 10)
	f, _ := os.Open(path)
	defer f.Close()
	var out bytes.Buffer
	n, err := Search(f, Filter{Token: "tok_c", Tenant: "acme"}, &out)
	if err != nil || n != 1 || !strings.Contains(out.String(), `"tok_c"`) {
		t.Fatalf("%d %v %s", n, err, out.String())
	}
}

func TestRolledFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := OpenFileChain(context.Background(), path, FileOptions{MaxSizeMB: 1}, Options{Gateway: "gw1", Key: testKey, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 900)
	for range 3500 {
		if err := c.Record(context.Background(), Entry{Action: ActionDetokenize, Detail: map[string]string{"pad": pad}}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	files, _ := ChainFiles(path)
	if len(files) < 4 {
		t.Fatalf("files %v", files)
	}
	rep, err := VerifyFiles(path, testKey, false)
	if err != nil || rep.Entries < 2500 || rep.First != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	// The oldest file removed (retention): the chain starts later.
	os.Remove(files[0])
	if rep, err = VerifyFiles(path, testKey, false); err != nil || rep.First == 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	// A file in the middle removed: the entries are missing.
	os.Remove(files[2])
	if _, err = VerifyFiles(path, testKey, false); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("%v", err)
	}
}

func TestFileReplacedUnderTheGateway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Record(context.Background(), Entry{Action: ActionReveal}); err != nil {
		t.Fatal(err)
	}
	os.Rename(path, path+".moved")
	os.Mkdir(path, 0o700)
	if err := c.Record(context.Background(), Entry{Action: ActionReveal}); !errors.Is(err, ErrReplaced) {
		t.Fatalf("record after the file was replaced: %v", err)
	}
}

// The hash is over the canonical JSON: member order does not matter, and
// every member counts (one the struct does not know too).
func TestCanonicalHash(t *testing.T) {
	a, _ := HashOf([]byte(`{"seq":1,"action":"reveal","detail":{"b":"2","a":"1"},"hash":"x"}`))
	b, _ := HashOf([]byte(`{"detail":{"a":"1","b":"2"},"action":"reveal","seq":1}`))
	c, _ := HashOf([]byte(`{"detail":{"a":"1","b":"2"},"action":"reveal","seq":1,"extra":true}`))
	if a != b || a == c {
		t.Fatalf("%s %s %s", a, b, c)
	}
}

// A partial line (a failed write) across which the chain continues is
// reported, not fatal; a line made unreadable in place of an entry is an
// entry removed.
func TestPartialLine(t *testing.T) {
	path := writeChain(t, 12, 10)
	lines := readLines(t, path)
	withPartial := append(lines[:5:5], append([]string{`{"seq":6,"time":"2026-`}, lines[5:]...)...)
	writeLines(t, path, withPartial)
	rep, err := VerifyFiles(path, testKey, false)
	if err != nil || len(rep.Skipped) != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	lines[5] = `{"seq":6,"ti`
	writeLines(t, path, lines)
	if ve := verifyErr(t, path); ve.Problem != ProblemRemoved || ve.Seq != 7 {
		t.Fatalf("%+v", ve)
	}
}
