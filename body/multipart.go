package body

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unsafe"
)

// Content-Transfer-Encodings a part may use. RFC 7578 deprecates them for
// form-data, but they must be decoded to see a card and re-applied to write
// a token.
const (
	cteIdentity = iota
	cteQuotedPrintable
	cteBase64
)

// mpPart is one part of a multipart body, by byte offsets.
type mpPart struct {
	start     int    // the "--boundary" line opening the part
	bodyStart int    // the content, after the blank line ending the headers
	bodyEnd   int    // the content ends before the line break preceding the next delimiter
	end       int    // the next delimiter line
	name      string // the form-data name, "" when there is none
	cte       int
	// meta is what else a framework reads of the part: its header lines
	// and its filename as mime.ParseMediaType decodes it (filename* of
	// RFC 2231 included), one per line.
	meta string
}

// multipartDoc edits a multipart/form-data body in place rather than
// re-encoding it with mime/multipart: a Reader/Writer round trip would
// reorder and recase part headers and decode quoted-printable parts, while
// splicing keeps every untouched byte (preamble, headers, file parts,
// epilogue) and, by construction, the boundary.
type multipartDoc struct {
	data    []byte
	s       string
	dash    string // "--" + boundary
	nl      string // the line break the body uses, "\r\n" or "\n"
	parts   []mpPart
	closeAt int // the closing "--boundary--" line, -1 for an empty body
	ops     fieldOps
	added   []newField
}

// quoteEscaper escapes a field name in a Content-Disposition header the way
// mime/multipart.Writer.CreateFormField does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// parseMultipart finds the parts the way mime/multipart.Reader does: a
// delimiter is "--boundary" at the start of a line, followed by optional
// spaces and a line break ("--" for the closing one); the line break of the
// first delimiter sets the body's line break.
func parseMultipart(contentType string, data []byte) (*multipartDoc, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return nil, errors.New("multipart body has an invalid Content-Type")
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, errors.New("multipart body has no boundary parameter")
	}
	s := unsafe.String(unsafe.SliceData(data), len(data))
	d := &multipartDoc{data: data, s: s, dash: "--" + boundary, nl: "\r\n", closeAt: -1}
	if len(strings.TrimSpace(s)) == 0 {
		return d, nil
	}

	// The first delimiter, after an optional preamble.
	pos, from := -1, 0
	for pos < 0 {
		j := strings.Index(s[from:], d.dash)
		if j < 0 {
			return nil, errors.New("multipart body has no boundary line")
		}
		at := from + j
		from = at + 1
		if at > 0 && s[at-1] != '\n' {
			continue
		}
		rest := s[at+len(d.dash):]
		if strings.HasPrefix(rest, "--") {
			d.closeAt = at
			return d, nil
		}
		rest = strings.TrimLeft(rest, " \t")
		switch {
		case strings.HasPrefix(rest, "\r\n"):
			d.nl = "\r\n"
		case strings.HasPrefix(rest, "\n"):
			d.nl = "\n"
		default:
			continue
		}
		pos = at
	}

	for {
		p := mpPart{start: pos}
		// The headers end at the first empty line. Lines end at "\n" with
		// or without a "\r", whatever the body's line break, because that
		// is how net/textproto (and so mime/multipart) reads headers: a
		// part must have the same name and content for the gateway as for
		// the merchant.
		var lines []string
		i := lineEnd(s, pos+len(d.dash), d.nl)
		for {
			k := strings.IndexByte(s[i:], '\n')
			if k < 0 {
				return nil, fmt.Errorf("multipart part %d has unterminated headers", len(d.parts)+1)
			}
			line := strings.TrimSuffix(s[i:i+k], "\r")
			i += k + 1
			if line == "" {
				break
			}
			lines = append(lines, line)
		}
		if err := p.headers(lines); err != nil {
			return nil, fmt.Errorf("multipart part %d %w", len(d.parts)+1, err)
		}
		p.bodyStart = i
		if strings.HasPrefix(s[i:], d.dash) {
			// mime/multipart takes this for the next delimiter (an empty
			// part with no line break before it); refuse rather than read
			// it differently.
			return nil, fmt.Errorf("multipart part %d has no line break before the next boundary", len(d.parts)+1)
		}
		// The next delimiter: line break, "--boundary", then "--" or
		// optional spaces and a line break; anything else is content.
		closing := false
		for from := p.bodyStart; ; {
			k := strings.Index(s[from:], d.nl+d.dash)
			if k < 0 {
				return nil, errors.New("multipart body has no closing boundary")
			}
			q := from + k
			rest := s[q+len(d.nl)+len(d.dash):]
			if strings.HasPrefix(rest, "--") {
				closing = true
			} else if !strings.HasPrefix(strings.TrimLeft(rest, " \t"), d.nl) {
				from = q + 1
				continue
			}
			p.bodyEnd, p.end = q, q+len(d.nl)
			break
		}
		d.parts = append(d.parts, p)
		pos = p.end
		if closing {
			d.closeAt = pos
			return d, nil
		}
	}
}

// lineEnd returns the index just past the line break ending the line at i.
func lineEnd(s string, i int, nl string) int {
	k := strings.Index(s[i:], nl)
	if k < 0 {
		return len(s)
	}
	return i + k + len(nl)
}

// headers reads the part's Content-Disposition (for its form-data name, as
// multipart.Part.FormName does) and Content-Transfer-Encoding. Errors name
// the problem, never the header text.
func (p *mpPart) headers(lines []string) error {
	var disp, cte string
	var seenDisp, seenCTE bool // the first of a repeated header counts, as textproto's Get
	var cur *string            // the header a continuation line belongs to
	var meta strings.Builder
	for _, line := range lines {
		meta.WriteString(line)
		meta.WriteByte('\n')
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				*cur += " " + strings.TrimSpace(line)
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return errors.New("has a malformed header line")
		}
		key, val := strings.TrimSpace(line[:colon]), strings.TrimSpace(line[colon+1:])
		cur = nil
		switch {
		case strings.EqualFold(key, "Content-Disposition") && !seenDisp:
			disp, cur, seenDisp = val, &disp, true
		case strings.EqualFold(key, "Content-Transfer-Encoding") && !seenCTE:
			cte, cur, seenCTE = val, &cte, true
		}
	}
	if disp != "" {
		if t, params, err := mime.ParseMediaType(disp); err == nil && t == "form-data" {
			p.name = params["name"]
			meta.WriteString(params["filename"])
		}
	}
	p.meta = meta.String()
	switch strings.ToLower(cte) {
	case "", "7bit", "8bit", "binary":
		p.cte = cteIdentity
	case "quoted-printable":
		p.cte = cteQuotedPrintable
	case "base64":
		p.cte = cteBase64
	default:
		return errors.New("has an unsupported Content-Transfer-Encoding")
	}
	return nil
}

// content decodes a part's content. Content that does not decode is
// returned as sent: that is what a lenient backend would see.
func (d *multipartDoc) content(p *mpPart) string {
	raw := d.s[p.bodyStart:p.bodyEnd]
	var dec []byte
	var err error
	switch p.cte {
	case cteQuotedPrintable:
		dec, err = io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
	case cteBase64:
		dec, err = base64.StdEncoding.DecodeString(strings.Map(dropSpace, raw))
	default:
		return raw
	}
	if err != nil {
		return raw
	}
	return string(dec)
}

func dropSpace(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}

// Find implements Doc: every part whose form-data name is exactly name,
// file parts included, so a card cannot slip past by being sent as a file.
func (d *multipartDoc) Find(name string) []Value { return d.appendFind(nil, name) }

func (d *multipartDoc) appendFind(dst []Value, name string) []Value {
	return findNamed(dst, len(d.parts), func(i int) string { return d.parts[i].name },
		func(i int) string { return d.content(&d.parts[i]) }, name)
}

func (d *multipartDoc) index(path string) int {
	return resolveOccurrence(len(d.parts), func(i int) string { return d.parts[i].name }, path)
}

// Set implements Doc. An existing part keeps its headers and gets the new
// content (in its Content-Transfer-Encoding); a new field becomes a text
// part before the closing delimiter.
func (d *multipartDoc) Set(path, value string) {
	d.ops, d.added = setField(d.ops, d.added, d.index(path), path, value)
}

// SetRaw implements Doc: a part's content is text whatever its JSON type.
func (d *multipartDoc) SetRaw(path, raw string) { d.Set(path, raw) }

// Delete implements Doc: the whole part, delimiter line included, goes.
func (d *multipartDoc) Delete(path string) {
	d.ops, d.added = deleteField(d.ops, d.added, d.index(path), path)
}

// Bytes implements Doc.
func (d *multipartDoc) Bytes() ([]byte, error) {
	if d.ops == nil && len(d.added) == 0 {
		return d.data, nil
	}
	var sp splicer
	ops := d.ops.cursor()
	for i := range d.parts {
		if d.ops == nil {
			break
		}
		p, op := &d.parts[i], ops.at(i)
		switch {
		case op.del:
			sp.add(p.start, p.end, nil)
		case op.set:
			off := sp.begin()
			sp.arena = appendEncoded(sp.arena, op.val, p.cte)
			if d.breaksOut(sp.arena[off:]) {
				return nil, fmt.Errorf("body: new value of multipart field %q contains the boundary", p.name)
			}
			sp.finish(p.bodyStart, p.bodyEnd, off)
		}
	}
	if len(d.added) > 0 {
		at := d.closeAt
		off := sp.begin()
		for _, f := range d.added {
			if d.breaksOut([]byte(f.val)) {
				return nil, fmt.Errorf("body: new value of multipart field %q contains the boundary", f.name)
			}
			sp.arena = append(sp.arena, d.dash...)
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, `Content-Disposition: form-data; name="`...)
			sp.arena = append(sp.arena, quoteEscaper.Replace(f.name)...)
			sp.arena = append(sp.arena, '"')
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, d.nl...)
			sp.arena = append(sp.arena, f.val...)
			sp.arena = append(sp.arena, d.nl...)
		}
		if at < 0 {
			// An empty body: write the closing delimiter too.
			sp.arena = append(sp.arena, d.dash...)
			sp.arena = append(sp.arena, "--"...)
			sp.arena = append(sp.arena, d.nl...)
			at = len(d.s)
		}
		sp.finish(at, at, off)
	}
	return sp.apply(d.data), nil
}

// breaksOut reports whether content would end its part early: the client
// chose the boundary, so a value could contain it.
func (d *multipartDoc) breaksOut(content []byte) bool {
	c := unsafe.String(unsafe.SliceData(content), len(content))
	return strings.HasPrefix(c, d.dash) || strings.Contains(c, "\n"+d.dash)
}

// appendEncoded writes a value in a part's Content-Transfer-Encoding.
func appendEncoded(dst []byte, val string, cte int) []byte {
	switch cte {
	case cteQuotedPrintable:
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		_, _ = w.Write([]byte(val))
		_ = w.Close()
		return append(dst, b.Bytes()...)
	case cteBase64:
		return base64.StdEncoding.AppendEncode(dst, []byte(val))
	}
	return append(dst, val...)
}
