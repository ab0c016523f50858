package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Filter selects entries for `caddy tokengate audit search`; empty fields
// match everything.
type Filter struct {
	Token  string
	Tenant string
	Action string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
}

// Match reports whether e is selected.
func (f Filter) Match(e Entry) bool {
	switch {
	case f.Tenant != "" && e.Tenant != f.Tenant,
		f.Action != "" && e.Action != f.Action,
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until):
		return false
	case f.Token != "":
		return slices.ContainsFunc(e.Tokens, func(t TokenUse) bool { return t.Token == f.Token })
	}
	return true
}

// Links checks, without the key, what a search can of the entries it reads
// in order (across a chain's files): each entry's own hash, and its link
// (seq and prev) to the entry read before it. An entry printed by a search
// that fails it was changed, or the chain around it was; `audit verify`
// says more (and checks the checkpoints, which need the key).
type Links struct {
	last *Entry
	// Broken counts the matched entries that failed; First names the
	// first of them.
	Broken int
	First  string
}

// check reports whether e (read from raw) is intact and linked to the entry
// before.
func (l *Links) check(raw []byte, e Entry) bool {
	h, err := HashOf(raw)
	ok := err == nil && h == e.Hash && (l.last == nil || e.Seq == l.last.Seq+1 && e.Prev == l.last.Hash)
	l.last = &e
	return ok
}

func (l *Links) broken(where string) {
	if l.Broken == 0 {
		l.First = where
	}
	l.Broken++
}

// Err says what Links found, or nil.
func (l *Links) Err() error {
	if l.Broken == 0 {
		return nil
	}
	return fmt.Errorf("%d of the entries shown do not verify (the first at %s): changed, or the chain around them; run caddy tokengate audit verify", l.Broken, l.First)
}

// Search writes to out, as read, each line of r that is an entry f matches.
func Search(r io.Reader, f Filter, out io.Writer) (int, error) {
	return SearchLinked("", r, f, out, &Links{})
}

// SearchLinked is Search checking each entry with l (carried across the
// files of one chain); source names r in what l reports.
func SearchLinked(source string, r io.Reader, f Filter, out io.Writer, l *Links) (int, error) {
	n := 0
	err := ReadLines(r, func(line int, raw []byte) error {
		var e Entry
		if json.Unmarshal(raw, &e) != nil || e.Seq == 0 {
			return nil
		}
		intact := l.check(raw, e)
		if !f.Match(e) {
			return nil
		}
		if !intact {
			l.broken(fmt.Sprintf("%s:%d (seq %d)", source, line, e.Seq))
		}
		n++
		_, err := out.Write(append(append([]byte{}, raw...), '\n'))
		return err
	})
	return n, err
}
