package audit

import (
	"encoding/json"
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

// Search writes to out, as read, each line of r that is an entry f matches.
func Search(r io.Reader, f Filter, out io.Writer) (int, error) {
	n := 0
	err := ReadLines(r, func(_ int, raw []byte) error {
		var e Entry
		if json.Unmarshal(raw, &e) != nil || e.Seq == 0 || !f.Match(e) {
			return nil
		}
		n++
		_, err := out.Write(append(append([]byte{}, raw...), '\n'))
		return err
	})
	return n, err
}
