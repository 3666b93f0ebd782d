package main

import (
	"log/slog"
	"os"
	"strconv"
	"syscall"
)

// adminNice is the CPU niceness of a long admin job (gc, verify) that runs
// beside a server: under contention Linux then gives it about a tenth of
// the CPU time of the server's threads (weights 110 against 1024), so the
// server's requests come first and the job uses what they leave.
const adminNice = 10

// yieldToServer lowers this process's CPU priority when a server runs on
// the data directory. Linux keeps the nice value per thread, and Go's
// threads already exist by now, so each thread of the process is
// lowered; threads started later inherit the value from their creator.
func yieldToServer(data string) {
	if !serverRunning(data) {
		return
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		slog.Debug("cannot lower priority", "err", err)
		return
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, adminNice); err != nil {
			slog.Debug("cannot lower priority", "tid", tid, "err", err)
		}
	}
}
