package cvvredis

import (
	"errors"
	"testing"

	"github.com/tokengate/tokengate/cvv"
)

// redisErr is an error as Redis answers one (redis.Error).
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

// Redis at maxmemory (noeviction) is a full store; any other failure is not.
func TestPutFailedOOMIsFull(t *testing.T) {
	if err := putFailed(redisErr("OOM command not allowed when used memory > 'maxmemory'.")); !errors.Is(err, cvv.ErrFull) {
		t.Fatalf("OOM: %v, want cvv.ErrFull", err)
	}
	for _, err := range []error{redisErr("READONLY You can't write against a read only replica."), errors.New("dial tcp: connection refused")} {
		if errors.Is(putFailed(err), cvv.ErrFull) {
			t.Fatalf("%v reported as a full store", err)
		}
	}
}
