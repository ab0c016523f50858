//go:build race

package network

// raceEnabled skips allocation assertions: the race detector allocates, and
// it makes sync.Pool drop items on purpose.
const raceEnabled = true
