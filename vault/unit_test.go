package vault_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// saver is a vault.Saver that logs what happens, in order, to a shared log.
type saver struct {
	mu   *sync.Mutex
	log  *[]string
	fail error
}

func (s saver) SaveAll(_ context.Context, entries map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for id, d := range entries {
		*s.log = append(*s.log, "save "+id+"="+string(d))
	}
	return nil
}

func newSaver() (saver, func(string), func() []string) {
	var mu sync.Mutex
	var log []string
	add := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	get := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), log...) }
	return saver{mu: &mu, log: &log}, add, get
}

// TestUnitCommitReleasesAfterWrite: the claims end only once the held
// writes are saved, and the entries held are a copy.
func TestUnitCommitReleasesAfterWrite(t *testing.T) {
	s, add, log := newSaver()
	u := vault.NewUnit()
	buf := []byte("a")
	if err := u.Hold(s, map[string][]byte{"k": buf}); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'x'
	_ = u.OnEnd(func(committed bool) { add("release committed=" + map[bool]string{true: "yes", false: "no"}[committed]) })
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"save k=a", "release committed=yes"}
	if got := log(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("order: %q, want %q", got, want)
	}
	// Ending again does nothing; joining an ended unit is refused.
	u.Rollback()
	if err := u.Commit(context.Background()); err != nil || len(log()) != 2 {
		t.Fatalf("second end: %v %q", err, log())
	}
	if err := u.Hold(s, map[string][]byte{"late": nil}); !errors.Is(err, vault.ErrUnitEnded) {
		t.Fatalf("Hold after the end: %v", err)
	}
	if err := u.OnEnd(func(bool) {}); !errors.Is(err, vault.ErrUnitEnded) {
		t.Fatalf("OnEnd after the end: %v", err)
	}
}

// TestUnitRollbackReleases: Rollback writes nothing and releases the
// claims as abandoned; so does a Commit whose save fails.
func TestUnitRollbackReleases(t *testing.T) {
	s, add, log := newSaver()
	u := vault.NewUnit()
	_ = u.Hold(s, map[string][]byte{"k": []byte("a")})
	_ = u.OnEnd(func(committed bool) {
		if !committed {
			add("abandoned")
		}
	})
	u.Rollback()
	if got := log(); len(got) != 1 || got[0] != "abandoned" {
		t.Fatalf("rollback: %q", got)
	}

	s.fail = errors.New("disk full")
	u = vault.NewUnit()
	_ = u.Hold(s, map[string][]byte{"k": []byte("a")})
	_ = u.OnEnd(func(committed bool) {
		if !committed {
			add("abandoned")
		}
	})
	if err := u.Commit(context.Background()); err == nil {
		t.Fatal("a failed save was reported committed")
	}
	if got := log(); len(got) != 2 || got[1] != "abandoned" {
		t.Fatalf("failed commit: %q", got)
	}
}

// TestUnitPendingIsReplaySafe: a backend may write the pending writes into
// a transaction that is rolled back and replayed; they stay held until
// Taken, and Commit then saves only what was not taken.
func TestUnitPendingIsReplaySafe(t *testing.T) {
	mine, _, _ := newSaver()
	other, _, log := newSaver()
	u := vault.NewUnit()
	_ = u.Hold(mine, map[string][]byte{"m": []byte("1")})
	_ = u.Hold(other, map[string][]byte{"o": []byte("2")})
	isMine := func(s vault.Saver) bool { return s == vault.Saver(mine) }
	first := u.Pending(isMine)
	if len(first) != 1 || string(first[0].Entries["m"]) != "1" {
		t.Fatalf("pending: %+v", first)
	}
	// The transaction failed and is replayed: the write is still there.
	replay := u.Pending(isMine)
	if len(replay) != 1 {
		t.Fatal("a pending write was lost before its transaction was durable")
	}
	// A write held meanwhile is not taken with the ones written.
	_ = u.Hold(mine, map[string][]byte{"m2": []byte("3")})
	u.Taken(replay)
	if left := u.Pending(isMine); len(left) != 1 || left[0].Entries["m2"] == nil {
		t.Fatalf("after Taken: %+v", left)
	}
	if err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log(); len(got) != 1 || got[0] != "save o=2" {
		t.Fatalf("other store: %q", got)
	}
}
