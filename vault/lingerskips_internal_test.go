package vault

import "testing"

// The skips after short waits grow 1, 2, 4... and stay at
// maxLingerSkips however long writers keep arriving at random: a run of
// short waits in the hundreds (a few seconds of production traffic) must
// not overflow the shift and stop the skipping.
func TestLingerSkips(t *testing.T) {
	want := map[int]int{0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8}
	for missed, w := range want {
		if got := lingerSkips(missed); got != w {
			t.Errorf("lingerSkips(%d) = %d, want %d", missed, got, w)
		}
	}
	for missed := 5; missed < 1000; missed++ {
		if got := lingerSkips(missed); got != maxLingerSkips {
			t.Fatalf("lingerSkips(%d) = %d, want %d", missed, got, maxLingerSkips)
		}
	}
}
