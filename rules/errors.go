package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a problem in a rules file. It carries the line so that a user,
// or an editor parsing "file:line: reason", can jump straight to it.
type Error struct {
	// File is the name the rules file was parsed under.
	File string
	// Line is the 1-based line of the offending node, or 0 when the YAML
	// parser reported no line (a few of its errors carry none).
	Line int
	// Msg is the reason, starting with the rule set and field it concerns.
	Msg string
}

// Error formats e as "file:line: reason", or "file: reason" without a line.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// yamlLine is how go.yaml.in/yaml/v3 puts a line into its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into an *Error, keeping the parser's
// line rather than inventing one.
func syntaxError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// checkText finds bytes the YAML parser rejects without saying where:
// invalid UTF-8 and control characters. Finding them first gives the user a
// line. It is deliberately looser than YAML's printable set, so it never
// rejects a file the parser would accept.
func checkText(name string, data []byte) *Error {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return &Error{File: name, Line: line, Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i])}
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return &Error{File: name, Line: line, Msg: fmt.Sprintf("control character %U is not allowed", r)}
		}
		i += size
	}
	return nil
}
