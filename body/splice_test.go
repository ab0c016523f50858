package body

import "testing"

func TestSpliceApply(t *testing.T) {
	data := []byte("0123456789")
	tests := []struct {
		name string
		add  func(*splicer)
		want string
	}{
		{"none", func(*splicer) {}, "0123456789"},
		{"replace", func(s *splicer) { s.addString(2, 4, "ab") }, "01ab456789"},
		{"grow and shrink", func(s *splicer) { s.addString(1, 2, "xyz"); s.addString(5, 9, "") }, "0xyz2349"},
		{"out of order", func(s *splicer) { s.addString(8, 9, "B"); s.addString(0, 1, "A") }, "A1234567B9"},
		{"insert", func(s *splicer) { s.addString(3, 3, "+") }, "012+3456789"},
		{"inserts keep order", func(s *splicer) { s.addString(3, 3, "a"); s.addString(3, 3, "b") }, "012ab3456789"},
		{"insert before range at same place", func(s *splicer) { s.addString(3, 5, "R"); s.addString(3, 3, "i") }, "012iR56789"},
		{"insert at end of range", func(s *splicer) { s.addString(3, 5, "R"); s.addString(5, 5, "i") }, "012Ri56789"},
		{"nested dropped, outer wins", func(s *splicer) { s.addString(4, 5, "in"); s.addString(2, 8, "OUT"); s.addString(6, 6, "x") }, "01OUT89"},
		{"append at end", func(s *splicer) { s.addString(10, 10, "!") }, "0123456789!"},
		{"bytes", func(s *splicer) { s.add(0, 10, []byte("all")) }, "all"},
	}
	for _, tt := range tests {
		var s splicer
		tt.add(&s)
		out := s.apply(data)
		if string(out) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, out, tt.want)
		}
		if len(out) != cap(out) {
			t.Errorf("%s: output allocated %d for %d bytes", tt.name, cap(out), len(out))
		}
	}
}
