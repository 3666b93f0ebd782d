package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuProc is a process whose CPU time a server's cells are charged: the
// server itself and, for a proxy such as nixbucket on an S3 store, the
// store behind it. The benchmark client is charged too, as "client", so
// the table shows where the machine's CPU went for each operation.
type cpuProc struct {
	label string
	pid   int // 0: this process
}

// parseCPUProcs parses "label=pid,label=pid".
func parseCPUProcs(s string) ([]cpuProc, error) {
	if s == "" {
		return nil, nil
	}
	var out []cpuProc
	for f := range strings.SplitSeq(s, ",") {
		label, p, ok := strings.Cut(strings.TrimSpace(f), "=")
		pid, err := strconv.Atoi(p)
		if !ok || label == "" || err != nil || pid <= 0 {
			return nil, fmt.Errorf("invalid CPU process %q: want label=pid", f)
		}
		out = append(out, cpuProc{label: label, pid: pid})
	}
	return out, nil
}

// clkTck is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux
// everywhere but in odd kernels.
const clkTck = 100

// cpuTicks is utime+stime of pid (0: this process), in clock ticks.
func cpuTicks(pid int) (int64, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. utime and stime are fields 14 and 15, the 12th
	// and 13th after it.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: short stat", path)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime", path)
	}
	return u + s, nil
}

// cpuSnap reads every process's ticks; a process it cannot read counts -1.
func cpuSnap(ps []cpuProc) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		t, err := cpuTicks(p.pid)
		if err != nil {
			t = -1
		}
		out[i] = t
	}
	return out
}

// cpuPerOp is the CPU ms per operation of each process between two snaps.
func cpuPerOp(before, after []int64, ops int64) []float64 {
	out := make([]float64, len(before))
	for i := range before {
		if ops == 0 || before[i] < 0 || after[i] < 0 {
			out[i] = -1
			continue
		}
		out[i] = float64(after[i]-before[i]) * 1000 / clkTck / float64(ops)
	}
	return out
}
