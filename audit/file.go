package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/DeRuina/timberjack"
)

// The file sink writes one entry per line (JSON) to a file that timberjack
// rolls (as Caddy's own log files roll): at roll size the file is renamed
// <name>-<time>-size<ext> beside it and a new one started, and the chain
// continues in it. Each entry is written with write(2) before Record
// returns, so a crash of the process loses nothing; what the kernel has not
// written to disk is made durable (fsync) at each checkpoint and on close,
// or after every entry with SyncEvery. At each checkpoint <path>.head is
// replaced (atomically) with the checkpoint's seq, hash and MAC: a file cut
// at its tail is shorter than its head.

// FileOptions configure the file sink.
type FileOptions struct {
	// MaxSizeMB rolls the file at this size (default 100).
	MaxSizeMB int
	// MaxBackups and MaxAgeDays bound the rolled files kept (0: no bound).
	MaxBackups int
	MaxAgeDays int
	// Key checks the tail's checkpoints at open.
	Key []byte
}

// TailError is OpenFile's error for a chain that does not verify (its tail
// was edited, or cut shorter than its head): waiting does not fix it.
type TailError struct{ err error }

func (e *TailError) Error() string { return e.err.Error() }
func (e *TailError) Unwrap() error { return e.err }

// FileStore is a Store over a rolled file.
type FileStore struct {
	path string
	log  *timberjack.Logger
	// written is the file the last entry went to (after a roll, the new
	// one), to notice the file replaced or removed under the gateway.
	written os.FileInfo
	buf     []byte // the lines of a write, reused
}

// HeadPath is where the head of the chain in path is kept.
func HeadPath(path string) string { return path + ".head" }

// tailBytes is how much of the end of the file is checked at open.
const tailBytes = 1 << 20

// OpenFile opens the chain in path (creating its directory, 0700): it
// reads the head and the tail of the last file and checks them (the tail
// must verify, and must not be shorter than the head); a chain that does
// not verify is refused with an error naming the file and the first bad
// line. With no file, the Tail is a new chain's (its Previous is "none", or
// the head's checkpoint when the files are gone but the head remains).
func OpenFile(path string, o FileOptions) (*FileStore, Tail, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, Tail{}, err
	}
	head, err := ReadHead(HeadPath(path))
	if err != nil {
		return nil, Tail{}, err
	}
	files, err := ChainFiles(path)
	if err != nil {
		return nil, Tail{}, err
	}
	var tail Tail
	tail.Head = head
	// The last file holding entries: the current one, or, after a crash
	// between a roll's rename and the new file's first line, the newest
	// rolled one.
	for i := len(files) - 1; i >= 0 && tail.Last == nil; i-- {
		last, err := checkTail(files[i], o.Key, head)
		if err != nil {
			return nil, Tail{}, &TailError{fmt.Errorf("audit file %s: %w; refusing to continue a chain that does not verify: "+
				"move the file and its rolled files out of the directory (keep them for the investigation) and start again: a new chain starts, whose first entry records %s's checkpoint as broken", files[i], err, filepath.Base(HeadPath(path)))}
		}
		tail.Last = last
	}
	if tail.Last == nil {
		tail.Previous = "none"
		if head != nil {
			// The files were moved away (or removed) and the head stayed:
			// the new chain's first entry says so, and the old head is
			// kept beside, for the investigation.
			tail.Previous = fmt.Sprintf("broken: the files of the chain whose head is seq %d hash %s are gone", head.Seq, head.Hash)
			kept := HeadPath(path) + ".previous-" + time.Now().UTC().Format("20060102T150405Z")
			if err := os.Rename(HeadPath(path), kept); err != nil {
				return nil, Tail{}, err
			}
			tail.Head = nil
		}
	}
	if o.MaxSizeMB <= 0 {
		o.MaxSizeMB = 100
	}
	log := &timberjack.Logger{Filename: path, MaxSize: o.MaxSizeMB, MaxBackups: o.MaxBackups, MaxAge: o.MaxAgeDays, FileMode: 0o600}
	return &FileStore{path: path, log: log}, tail, nil
}

// checkTail verifies the last tailBytes of file (against head) and returns
// its last entry (nil when it has none).
func checkTail(file string, key []byte, head *Head) (*Entry, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	start := max(fi.Size()-tailBytes, 0)
	// Count the lines before the tail, to name lines as in the file.
	lines := 0
	buf := make([]byte, 64<<10)
	for off := int64(0); off < start; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), start-off)], off)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		off += int64(n)
		if err != nil && n == 0 {
			return nil, err
		}
	}
	data := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(data, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("line %d: incomplete (the file does not end with a whole entry)", lines+bytes.Count(data, []byte{'\n'})+1)
	}
	if start > 0 { // the first line of the tail may be partial
		i := bytes.IndexByte(data, '\n')
		data = data[i+1:]
		lines++
	}
	h := head
	if h != nil && h.Seq == 0 {
		h = nil
	}
	v := NewVerifier(key, h)
	v.Window() // the last file's end only: the head may be before it
	var last *Entry
	err = ReadLines(bytes.NewReader(data), func(n int, raw []byte) error {
		if err := v.Add("line", lines+n, raw); err != nil {
			return err
		}
		var e Entry
		if json.Unmarshal(raw, &e) == nil && e.Seq > 0 {
			last = &e
		}
		return nil
	})
	if err == nil {
		_, err = v.Finish()
	}
	var ve *VerifyError
	if errors.As(err, &ve) {
		if ve.Source == "line" {
			ve.Source = "line"
			return nil, fmt.Errorf("line %d (seq %d): %s: %s", ve.Line, ve.Seq, ve.Problem, ve.Detail)
		}
		return nil, fmt.Errorf("%s (seq %d): %s: %s", ve.Source, ve.Seq, ve.Problem, ve.Detail)
	}
	return last, err
}

// ChainFiles lists the files of the chain in path, oldest first: the
// rolled ones (timberjack's names: <name>-<time>-<reason><ext>, ordered by
// the seq of their first entry) then path itself, if they exist.
func ChainFiles(path string) ([]string, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	type rolled struct {
		name string
		seq  uint64
	}
	var rs []rolled
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || n == base || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) || strings.HasSuffix(n, ".head") {
			continue
		}
		full := filepath.Join(dir, n)
		if err := regular(full); err != nil {
			return nil, err
		}
		rs = append(rs, rolled{full, firstSeq(full)})
	}
	slices.SortFunc(rs, func(a, b rolled) int {
		if a.seq != b.seq {
			return cmp.Compare(a.seq, b.seq)
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	if _, err := os.Stat(path); err == nil {
		if err := regular(path); err != nil {
			return nil, err
		}
		out = append(out, path)
	}
	return out, nil
}

// regular refuses a file of the chain that is a named pipe or a socket:
// opening a named pipe blocks until someone writes to it (the gateway's
// start, a verify would hang). A character device stays allowed (tests
// write to /dev/full to see a disk that fails).
func regular(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		return fmt.Errorf("audit: %s is a named pipe or socket, not a regular file", file)
	}
	return nil
}

// firstSeq is the seq of the first entry of file (0 if none).
func firstSeq(file string) uint64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	var seq uint64
	_ = ReadLines(f, func(_ int, raw []byte) error {
		var e Entry
		if json.Unmarshal(raw, &e) == nil && e.Seq > 0 {
			seq = e.Seq
			return io.EOF
		}
		return nil
	})
	return seq
}

// ReadHead reads a head file; a missing one is nil.
func ReadHead(path string) (*Head, error) {
	if err := regular(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h Head
	if err := json.Unmarshal(data, &h); err != nil || h.Seq == 0 {
		return nil, fmt.Errorf("audit head %s does not parse", path)
	}
	return &h, nil
}

// writeHead replaces path with h: a temporary file beside it, synced, then
// renamed, and the directory synced.
func writeHead(path string, h Head) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-head-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Path is the file written to.
func (s *FileStore) Path() string { return s.path }

// ErrReplaced is Append's error when the file was replaced or removed
// while the gateway writes it (its entries would go to a file no one
// reads).
var ErrReplaced = errors.New("the audit file was replaced or removed while the gateway writes it; restart the gateway to start a new chain")

// Append implements Store: the line is written (write(2)) when it returns.
// A file replaced or removed under the gateway (the chain's owner does not
// roll it: timberjack does) is refused, so no entry is written where no one
// would read it.
func (s *FileStore) Append(ctx context.Context, line []byte) error {
	_, err := s.AppendBatch(ctx, [][]byte{line})
	return err
}

// AppendBatch implements BatchStore: the lines are written with one
// write(2) (a chain's group commit), checked as Append checks one.
func (s *FileStore) AppendBatch(_ context.Context, lines [][]byte) (int, error) {
	if s.written != nil {
		fi, err := os.Stat(s.path)
		if err != nil || !os.SameFile(fi, s.written) {
			return 0, fmt.Errorf("%s: %w", s.path, ErrReplaced)
		}
	}
	s.buf = s.buf[:0]
	for _, l := range lines {
		s.buf = append(append(s.buf, l...), '\n')
	}
	n, err := s.log.Write(s.buf)
	if err != nil {
		// The lines whose newline was written are whole.
		whole := 0
		for _, l := range lines {
			if n < len(l)+1 {
				break
			}
			n -= len(l) + 1
			whole++
		}
		return whole, err
	}
	// The lines are written: the chain goes on after them whatever this
	// finds (a file gone now fails the next entry).
	if fi, err := os.Stat(s.path); err == nil {
		s.written = fi
	}
	return len(lines), nil
}

// Checkpoint implements Store: the line is written, the file synced, then
// the head replaced.
func (s *FileStore) Checkpoint(ctx context.Context, line []byte, head Head) (bool, error) {
	if err := s.Append(ctx, line); err != nil {
		return false, err
	}
	if err := s.log.Sync(); err != nil {
		return true, err
	}
	return true, writeHead(HeadPath(s.path), head)
}

// Sync implements Store.
func (s *FileStore) Sync() error { return s.log.Sync() }

// Close implements Store.
func (s *FileStore) Close() error { return s.log.Close() }

// OpenFileChain opens the file sink's chain in path (see OpenFile and
// NewChain).
func OpenFileChain(ctx context.Context, path string, fo FileOptions, opts Options) (*Chain, error) {
	fo.Key = opts.Key
	store, tail, err := OpenFile(path, fo)
	if err != nil {
		return nil, err
	}
	c, err := NewChain(ctx, store, tail, opts)
	if err != nil {
		store.Close()
		return nil, err
	}
	return c, nil
}

// VerifyFiles verifies the chain in path and its rolled files, with its
// head (unless noHead).
func VerifyFiles(path string, key []byte, noHead bool) (Report, error) {
	files, err := ChainFiles(path)
	if err != nil {
		return Report{}, err
	}
	if len(files) == 0 {
		return Report{}, fmt.Errorf("%s: no such file (nor rolled files beside it)", path)
	}
	var head *Head
	if !noHead {
		if head, err = ReadHead(HeadPath(path)); err != nil {
			return Report{}, err
		}
		if head == nil {
			return Report{}, fmt.Errorf("%s: no head file %s: a cut at the end of the chain would not show (verify without it with --no-head)", path, HeadPath(path))
		}
	}
	var srcs []Source
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return Report{}, err
		}
		defer fh.Close()
		srcs = append(srcs, Source{Name: f, R: fh})
	}
	return Verify(srcs, key, head)
}

// NewTailError marks err as a chain that does not verify (see TailError).
func NewTailError(err error) error { return &TailError{err} }
