package audit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stuckStore is a store whose writes hang after the first (a disk or an NFS
// mount that stops answering) until release is closed.
type stuckStore struct {
	n       int
	release chan struct{}
}

func (s *stuckStore) Append(context.Context, []byte) error {
	s.n++
	if s.n > 1 {
		<-s.release
	}
	return nil
}
func (s *stuckStore) Checkpoint(ctx context.Context, line []byte, _ Head) (bool, error) {
	return true, s.Append(ctx, line)
}
func (s *stuckStore) Sync() error  { return nil }
func (s *stuckStore) Close() error { return nil }

// TestAttack19RecordBehindStuckWrite: a write that hangs (a disk that stops
// answering) held the chain's lock, and every other access to card data
// waited behind it for ever: requests piled up with no answer. A Record
// that cannot get its turn within Options.Wait fails (the caller answers
// 503: fail closed, but answered).
func TestAttack19RecordBehindStuckWrite(t *testing.T) {
	st := &stuckStore{release: make(chan struct{})}
	c, err := NewChain(context.Background(), st, Tail{}, Options{Key: []byte("k"), Interval: time.Hour, Wait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(st.release); c.Close() }()
	go c.Record(context.Background(), Entry{Action: ActionDetokenize}) // hangs in the store
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- c.Record(context.Background(), Entry{Action: ActionDetokenize}) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("record behind a stuck write: %v, want ErrBusy", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a record behind a stuck write waits for ever")
	}
}
