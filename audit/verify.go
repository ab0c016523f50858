package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// What verify finds wrong with an entry.
const (
	ProblemChanged   = "changed"
	ProblemRemoved   = "removed"
	ProblemInserted  = "inserted"
	ProblemReordered = "reordered"
	ProblemTruncated = "truncated"
	ProblemMAC       = "checkpoint MAC invalid"
)

// VerifyError names the first entry found wrong: where it is (file or
// table, line or row, seq) and what is wrong.
type VerifyError struct {
	Source  string
	Line    int
	Seq     uint64
	Problem string // one of the Problem constants
	Detail  string
}

func (e *VerifyError) Error() string {
	where := e.Source
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Source, e.Line)
	}
	if e.Seq > 0 {
		where += fmt.Sprintf(" (seq %d)", e.Seq)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Problem, e.Detail)
}

// Report is what a verification that passed counted.
type Report struct {
	Entries     int
	Checkpoints int
	// First and Last are the seqs of the first and last entries read.
	First, Last uint64
	// Unauthenticated is the number of entries after the last checkpoint:
	// a re-chain of those (without the key) would not show.
	Unauthenticated int
	// Skipped are lines that were not entries (a partial write left by a
	// failed write), across which the chain continued intact.
	Skipped []string
	// Gateway is the name of the chain read (its first entry's).
	Gateway string
	// MACsChecked is false when no key was given.
	MACsChecked bool
	// HeadChecked says whether a head was compared.
	HeadChecked bool
	// StartedAfter is, for a chain whose first entry is here, what that
	// entry records of the chain before it ("none", or "broken: ..." when
	// a chain's files were moved away and a new one started).
	StartedAfter string
}

// pos is an entry and where it was read.
type pos struct {
	e      Entry
	source string
	line   int
	ok     bool // hash matches
}

// Verifier checks a chain entry by entry, in the order they were read.
// Add each entry (a JSON line), then Finish. The chain may start at any
// seq (older files removed by retention): its first entry's prev is taken
// as given.
type Verifier struct {
	key  []byte
	head *Head

	started   bool
	pending   *pos // read, not yet checked (one entry of lookahead)
	last      *pos // checked
	seen      map[uint64]pos
	report    Report
	headFound bool
	window    bool
	err       error
}

// Window says the lines added are only the last ones of the chain (a
// gateway checking the tail it continues): a head before the first of them
// is then not a sign of removed entries.
func (v *Verifier) Window() { v.window = true }

// NewVerifier checks checkpoint MACs with key (none checked when nil) and
// the chain against head (when not nil).
func NewVerifier(key []byte, head *Head) *Verifier {
	return &Verifier{key: key, head: head, seen: map[uint64]pos{}, report: Report{MACsChecked: key != nil}}
}

// Add reads one line of source. It returns the first problem found (and
// keeps returning it).
func (v *Verifier) Add(source string, line int, raw []byte) error {
	if v.err != nil {
		return v.err
	}
	raw = []byte(strings.TrimSpace(string(raw)))
	if len(raw) == 0 {
		return nil
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil || e.Seq == 0 {
		// Not an entry: what a failed partial write leaves. The chain
		// must continue across it (checked by the next entry's seq and
		// prev), so skipping it hides nothing.
		v.report.Skipped = append(v.report.Skipped, fmt.Sprintf("%s:%d", source, line))
		return nil
	}
	h, err := HashOf(raw)
	p := &pos{e: e, source: source, line: line, ok: err == nil && h == e.Hash}
	if v.pending != nil {
		v.err = v.check(*v.pending, p)
	}
	v.pending = p
	return v.err
}

// check checks p, the entry after the last checked one; next is the one
// after p (nil at the end).
func (v *Verifier) check(p pos, next *pos) error {
	bad := func(problem, format string, args ...any) error {
		return &VerifyError{Source: p.source, Line: p.line, Seq: p.e.Seq, Problem: problem, Detail: fmt.Sprintf(format, args...)}
	}
	e := p.e
	if v.last != nil {
		want := v.last.e.Seq + 1
		switch {
		case e.Seq > want && next != nil && next.e.Seq < e.Seq && next.e.Seq >= want:
			return bad(ProblemReordered, "seq %d comes before seq %d (line %d)", e.Seq, next.e.Seq, next.line)
		case e.Seq > want:
			return bad(ProblemRemoved, "seq %d follows seq %d (%s:%d): %d entr%s missing", e.Seq, v.last.e.Seq, v.last.source, v.last.line,
				e.Seq-want, map[bool]string{true: "y is", false: "ies are"}[e.Seq-want == 1])
		case e.Seq < want:
			if prior, ok := v.seen[e.Seq]; ok {
				return bad(ProblemInserted, "seq %d again (first at %s:%d): an entry was inserted or copied", e.Seq, prior.source, prior.line)
			}
			return bad(ProblemReordered, "seq %d comes after seq %d", e.Seq, v.last.e.Seq)
		}
	} else if e.Seq == 1 && e.Prev != "" {
		return bad(ProblemChanged, "the first entry of a chain has a prev")
	}
	if !p.ok {
		return bad(ProblemChanged, "its content does not match its hash")
	}
	if v.last != nil && e.Prev != v.last.e.Hash {
		// The entry before is intact by itself (its own hash checked):
		// it, or this link, was re-hashed after a change.
		return bad(ProblemChanged, "its prev is not the hash of the entry before (%s:%d): the entry before was replaced, or this one re-chained", v.last.source, v.last.line)
	}
	if e.Action == ActionCheckpoint {
		v.report.Checkpoints++
		v.report.Unauthenticated = 0
		if v.key != nil {
			want := CheckpointMAC(v.key, e.Gateway, e.Seq, e.Prev)
			if e.Detail["mac"] != want {
				if id := e.Detail["key_id"]; id != "" && id != KeyID(v.key) {
					return bad(ProblemMAC, "made with another keyset (key id %s; the keyset given has %s), or forged", id, KeyID(v.key))
				}
				return bad(ProblemMAC, "an entry before it, after the previous checkpoint, was changed, removed, inserted or reordered and the chain re-hashed without the key")
			}
		}
	} else {
		v.report.Unauthenticated++
	}
	if v.head != nil && e.Seq == v.head.Seq {
		if e.Hash != v.head.Hash || e.Gateway != v.head.Gateway {
			return bad(ProblemChanged, "the head records another hash for seq %d: the chain was changed and re-chained from here or before", e.Seq)
		}
		v.headFound = true
	}
	if !v.started {
		v.started, v.report.First, v.report.Gateway = true, e.Seq, e.Gateway
		if e.Seq == 1 {
			v.report.StartedAfter = e.Detail["previous"]
		}
	}
	v.report.Entries++
	v.report.Last = e.Seq
	if len(v.seen) > 100000 { // bound memory: duplicates are near each other
		clear(v.seen)
	}
	v.seen[e.Seq] = p
	v.last = &p
	return nil
}

// Finish checks the last entry and the head, and returns the report.
func (v *Verifier) Finish() (Report, error) {
	if v.err != nil {
		return v.report, v.err
	}
	if v.pending != nil {
		if v.err = v.check(*v.pending, nil); v.err != nil {
			return v.report, v.err
		}
		v.pending = nil
	}
	if v.head != nil {
		v.report.HeadChecked = true
		if v.key != nil && HeadMAC(v.key, v.head.Gateway, v.head.Seq, v.head.Prev, v.head.Hash) != v.head.MAC {
			v.err = &VerifyError{Source: "head", Seq: v.head.Seq, Problem: ProblemMAC, Detail: "the head's MAC does not verify: the head was forged or made with another keyset"}
			return v.report, v.err
		}
		switch {
		case v.last == nil || v.head.Seq > v.last.e.Seq:
			var end string
			if v.last != nil {
				end = fmt.Sprintf("the chain ends at seq %d (%s:%d)", v.last.e.Seq, v.last.source, v.last.line)
			} else {
				end = "the chain has no entries"
			}
			v.err = &VerifyError{Source: "head", Seq: v.head.Seq, Problem: ProblemTruncated,
				Detail: fmt.Sprintf("%s but its head records a checkpoint at seq %d: entries at the end were removed", end, v.head.Seq)}
		case !v.headFound && v.head.Seq >= v.report.First:
			v.err = &VerifyError{Source: "head", Seq: v.head.Seq, Problem: ProblemChanged, Detail: "the head's checkpoint is not in the chain"}
		case !v.headFound && !v.window:
			// The head is the latest checkpoint: a chain read that starts
			// after it lost it, and what follows it is not authenticated.
			v.err = &VerifyError{Source: "head", Seq: v.head.Seq, Problem: ProblemRemoved,
				Detail: fmt.Sprintf("the chain starts at seq %d, after its head's checkpoint (seq %d): the entries up to the latest checkpoint were removed", v.report.First, v.head.Seq)}
		}
	}
	return v.report, v.err
}

// Source is one file (or table) of a chain, read in order.
type Source struct {
	Name string
	R    io.Reader
}

// Verify checks the chain read from sources, in order, with key (nil: MACs
// not checked) and head (nil: no head). It returns the first problem.
func Verify(sources []Source, key []byte, head *Head) (Report, error) {
	v := NewVerifier(key, head)
	for _, s := range sources {
		if err := ReadLines(s.R, func(line int, raw []byte) error { return v.Add(s.Name, line, raw) }); err != nil {
			var ve *VerifyError
			if errors.As(err, &ve) {
				return v.report, err
			}
			return v.report, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return v.Finish()
}

// maxLine bounds one entry's line.
const maxLine = 4 << 20

// ReadLines calls fn with each line of r (numbered from 1).
func ReadLines(r io.Reader, fn func(line int, raw []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}
