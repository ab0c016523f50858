package cvvredis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/cvv"
)

// putFailed is the error of a SET Redis did not take. Redis at its
// maxmemory under the noeviction policy answers "OOM command not allowed":
// that is a full store, not an outage, and is reported as cvv.ErrFull so
// the answer names it. (Under an evicting policy, allkeys-* or volatile-*,
// Redis would drop held CVVs silently instead: configure noeviction.)
func putFailed(err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ") {
		return fmt.Errorf("%w: redis is at its maxmemory: %w", cvv.ErrFull, err)
	}
	return fmt.Errorf("cvvredis: put: %w", err)
}
