package body

import (
	"cmp"
	"slices"
)

// splice replaces data[start:end] with text held in an arena. A zero-width
// splice (start == end) is an insertion.
type splice struct {
	start, end int // the original bytes replaced
	off, n     int // the replacement, arena[off:off+n]
	seq        int // recording order, so that equal positions stay in order
}

// splicer collects the splices of one Bytes call. Replacement texts share one
// arena so that a thousand edits cost a few appends, not a thousand
// allocations.
type splicer struct {
	sp    []splice
	arena []byte
}

// add records the replacement of data[start:end] by text.
func (s *splicer) add(start, end int, text []byte) {
	s.sp = append(s.sp, splice{start: start, end: end, off: len(s.arena), n: len(text), seq: len(s.sp)})
	s.arena = append(s.arena, text...)
}

// addString is add for a string, without converting it to a byte slice.
func (s *splicer) addString(start, end int, text string) {
	s.sp = append(s.sp, splice{start: start, end: end, off: len(s.arena), n: len(text), seq: len(s.sp)})
	s.arena = append(s.arena, text...)
}

// begin starts a splice whose text the caller appends to s.arena directly
// (escaping straight into the arena saves a temporary); finish closes it.
func (s *splicer) begin() int { return len(s.arena) }

// finish records the splice whose text was appended to the arena since off.
func (s *splicer) finish(start, end, off int) {
	s.sp = append(s.sp, splice{start: start, end: end, off: off, n: len(s.arena) - off, seq: len(s.sp)})
}

// apply builds the edited copy of data in one pass. The output is
// allocated once, at its exact size.
func (s *splicer) apply(data []byte) []byte {
	size := s.plan(len(data))
	out := make([]byte, 0, size)
	cur := 0
	for _, x := range s.sp {
		if x.seq < 0 {
			continue
		}
		out = append(out, data[cur:x.start]...)
		out = append(out, s.arena[x.off:x.off+x.n]...)
		cur = x.end
	}
	return append(out, data[cur:]...)
}

// plan orders the splices by position and drops (seq -1) each one that
// starts inside one already applied, so when edits nest the outermost one
// wins. It returns the size of the edited copy of a body of n bytes.
func (s *splicer) plan(n int) int {
	sp := s.sp
	less := func(a, b splice) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		// Insertions go before a range starting at the same place (they
		// are not inside it), and a longer range before a shorter one, so
		// the outer one is kept.
		if az, bz := a.end == a.start, b.end == b.start; az != bz {
			if az {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.end-b.start, a.end-a.start); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	}
	if !slices.IsSortedFunc(sp, less) {
		slices.SortFunc(sp, less)
	}
	size, cur := 0, 0
	for i := range sp {
		if sp[i].start < cur {
			sp[i].seq = -1 // dropped: nested in an earlier splice
			continue
		}
		size += sp[i].start - cur + sp[i].n
		cur = sp[i].end
	}
	return size + n - cur
}
