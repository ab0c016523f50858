package vaulttest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ServerCPU is the CPU time, in ns, of the processes of this machine named
// comm (PostgreSQL's backends and the rest: other databases' count too), or
// -1 where /proc cannot tell.
func ServerCPU(comm string) int64 {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var ticks int64
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 14 and 15.
		open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
		if open < 0 || end < open || string(raw[open+1:end]) != comm {
			continue
		}
		f := strings.Fields(string(raw[end+1:]))
		if len(f) < 13 {
			continue
		}
		var ut, st int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &st)
		ticks += ut + st
	}
	return ticks * int64(time.Second/100) // USER_HZ is 100 on Linux
}

// ProcessCPU is this process's user and system CPU time so far, in ns.
func ProcessCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// CPUPerOp starts counting this process's CPU time; the function it returns
// reports it per op as cpu-ns/op, steadier than ns/op on a shared machine.
// Call it after b.StopTimer, or defer it.
func CPUPerOp(b *testing.B) (report func()) {
	cpu0 := ProcessCPU(b)
	return func() { b.ReportMetric(float64(ProcessCPU(b)-cpu0)/float64(b.N), "cpu-ns/op") }
}
