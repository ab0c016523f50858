//go:build unix

package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockVaultFile takes, without reading or writing the file, the lock a
// gateway holds on its bbolt vault file (an exclusive flock, as bbolt
// takes on unix: go.etcd.io/bbolt v1.5.0, bolt_unix.go), retrying for
// about a second as bbolt does. It fails with errVaultInUse while a gateway
// holds it. A damaged file can be locked too, so a restore can replace it.
func lockVaultFile(path string) (release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, errVaultInUse
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
