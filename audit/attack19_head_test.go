package audit

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// attack19: an insider with write access to the audit directory but not the
// keyset cuts the chain back to an earlier checkpoint and writes a head that
// names it. Everything a head holds (gateway, seq, prev, hash and the MAC)
// was in the checkpoint entry itself, so the forged head verified and the cut
// did not show.
func TestAttack19HeadForgedFromCheckpointEntry(t *testing.T) {
	path := writeChain(t, 25, 10) // checkpoints at seq 1, 12, 23 and 29 (close)
	lines := readLines(t, path)
	// Keep everything up to the checkpoint at seq 12 (line 12).
	var cp Entry
	if err := json.Unmarshal([]byte(lines[11]), &cp); err != nil || cp.Action != ActionCheckpoint {
		t.Fatalf("line 12 is not a checkpoint: %s", lines[11])
	}
	writeLines(t, path, lines[:12])
	forged := Head{Gateway: cp.Gateway, Seq: cp.Seq, Prev: cp.Prev, Hash: cp.Hash, MAC: cp.Detail["mac"]}
	data, _ := json.Marshal(forged)
	if err := os.WriteFile(HeadPath(path), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyFiles(path, testKey, false); err == nil {
		t.Fatalf("a chain cut at an earlier checkpoint with a head made from that checkpoint verifies: %+v", rep)
	}
	// The gateway must not continue it either.
	if c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey, Interval: time.Hour}); err == nil {
		c.Close()
		t.Fatal("the gateway continues a chain whose head was forged from a checkpoint entry")
	}
}

// attack19: entries after the last checkpoint (a crash before it) are kept;
// an insider deletes everything up to and including the head's checkpoint
// and rewrites what is left. The head's checkpoint is then before the first
// entry read, and verify did not compare it at all.
func TestAttack19ChainStartsAfterItsHead(t *testing.T) {
	path := writeChain(t, 25, 10)
	c, err := OpenFileChain(context.Background(), path, FileOptions{}, Options{Key: testKey, Every: 100, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Record(context.Background(), Entry{Action: ActionDetokenize, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: the process died, the last 3 entries are not checkpointed.
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	c.store.Close()
	lines := readLines(t, path)
	if len(lines) != 32 {
		t.Fatalf("%d lines", len(lines))
	}
	tail := lines[29:] // seq 30..32, after the head (seq 29)
	tail[1] = strings.Replace(tail[1], `"tenant":"acme"`, `"tenant":"evil"`, 1)
	tail = rechain(t, tail, 0)
	// rechain from 0 starts at seq 1: put the seqs back.
	for i := range tail {
		var e Entry
		json.Unmarshal([]byte(tail[i]), &e)
		e.Seq = uint64(30 + i)
		e.Hash = ""
		if i == 0 {
			e.Prev = "whatever"
		} else {
			var p Entry
			json.Unmarshal([]byte(tail[i-1]), &p)
			e.Prev = p.Hash
		}
		raw, _ := json.Marshal(e)
		e.Hash, _ = HashOf(raw)
		out, _ := json.Marshal(e)
		tail[i] = string(out)
	}
	writeLines(t, path, tail)
	if rep, err := VerifyFiles(path, testKey, false); err == nil {
		t.Fatalf("a chain that starts after its head's checkpoint verifies: %+v", rep)
	}
}

// attack19: the head file replaced by a named pipe: reading it blocked
// until someone wrote to it, hanging the gateway's start and verify.
func TestAttack19HeadIsFIFO(t *testing.T) {
	path := writeChain(t, 3, 10)
	os.Remove(HeadPath(path))
	if err := syscall.Mkfifo(HeadPath(path), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := VerifyFiles(path, testKey, false); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Fatalf("verify with a FIFO as the head: %v", err)
		}
	case <-time.After(5 * time.Second):
		if f, err := os.OpenFile(HeadPath(path), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("reading a FIFO as the head hangs")
	}
}

// attack19: a member written twice. The canonical hash keeps the last one
// (a Go map), so an entry given a first "tenant":"evil" before its own kept
// its hash and verified, while a reader that keeps the first of duplicate
// members (several do) shows "evil". An entry with a member twice does not
// verify.
func TestAttack19DuplicateMember(t *testing.T) {
	path := writeChain(t, 5, 10)
	lines := readLines(t, path)
	if !strings.Contains(lines[3], `"tenant":"acme"`) {
		t.Fatalf("line 4: %s", lines[3])
	}
	lines[3] = `{"tenant":"evil",` + strings.TrimPrefix(lines[3], "{")
	writeLines(t, path, lines)
	if rep, err := VerifyFiles(path, testKey, false); err == nil {
		t.Fatalf("an entry with a duplicate member verifies: %+v", rep)
	}
}
