package vault_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tokengate/tokengate/vault"
)

// A group that fails is retried write by write when alone says so, and
// only the failing write fails; otherwise every write of it gets the error.
func TestGroupCommit(t *testing.T) {
	errBad, errDown := errors.New("bad write"), errors.New("down")
	var (
		mu     sync.Mutex
		groups [][]int
		down   bool
	)
	commit := func(ws []int) error {
		mu.Lock()
		defer mu.Unlock()
		groups = append(groups, append([]int(nil), ws...))
		if down {
			return errDown
		}
		for _, w := range ws {
			if w < 0 {
				return errBad
			}
		}
		return nil
	}
	g := vault.NewGroupCommit(1, 100, commit, func(err error) bool { return err == errBad })
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := i
			if i == 7 {
				w = -1
			}
			if err := g.Do(context.Background(), w); (err != nil) != (i == 7) {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	down = true
	groups = nil
	mu.Unlock()
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Do(context.Background(), i); err != errDown {
				t.Errorf("write %d while down: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for _, grp := range groups {
		if len(grp) == 1 && len(groups) > 10 {
			t.Fatalf("a group failed by an outage was retried write by write: %v", groups)
		}
	}
	g.Close()
	if err := g.Do(context.Background(), 1); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
