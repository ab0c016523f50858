package caddymodule

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileWriters returns the ids (and names) of other processes that hold
// path open for writing, as Linux's /proc shows them (those of the same
// user, or all as root); elsewhere, or when /proc cannot be read, none. A
// gateway whose audit file sink writes path holds it open so: the
// command-line chain must not write there too (two writers fork the
// chain). Readers (a log shipper tailing the file) do not count.
func fileWriters(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	want, err := os.Stat(abs)
	if err != nil {
		return nil // no file yet: no writer
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err != nil || !strings.HasPrefix(target, "/") {
				continue
			}
			if target != abs {
				fi, err := os.Stat(target)
				if err != nil || !os.SameFile(fi, want) {
					continue
				}
			}
			if !openForWriting(filepath.Join("/proc", p.Name(), "fdinfo", fd.Name())) {
				continue
			}
			name, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
			out = append(out, p.Name()+" ("+string(bytes.TrimSpace(name))+")")
			break
		}
	}
	return out
}

// openForWriting reads an fdinfo file's flags: O_WRONLY or O_RDWR.
func openForWriting(fdinfo string) bool {
	data, err := os.ReadFile(fdinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&3 != 0
		}
	}
	return false
}
