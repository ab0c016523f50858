//go:build !unix

package caddymodule

import "errors"

// lockVaultFile is the unix flock bbolt takes; elsewhere restore does not
// replace an existing vault file: stop the gateway and move it aside.
func lockVaultFile(string) (func(), error) {
	return nil, errors.New("restore replaces an existing vault file on unix only: stop the gateway, move the file aside, and restore again")
}
