package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"
	"syscall"
	"time"
)

// tableRun measures every cell on every server and keeps the figures.
type tableRun struct {
	servers  []*server
	bucket   string
	lim      limits
	rounds   int
	unsigned bool
	sync     bool

	rows    []row
	peakRSS []int64 // per server, peak VmRSS sampled over the whole table
}

// row is one cell's figures for every server.
type row struct {
	c        cell
	opsPerS  [][]float64   // per server, per round
	cpu      [][][]float64 // per server, per round, per CPU process: ms/op
	errs     []int64
	firstErr []error
}

// run measures ops × sizes × concurrency levels.
func (t *tableRun) run(ctx context.Context, ops []string, sizes []int64, concs []int, pat []byte) error {
	p := newPayloads(sizes, pat)
	smp := make([]*sampler, len(t.servers))
	for i, srv := range t.servers {
		smp[i] = startSampler(srv.pid, 100*time.Millisecond)
	}
	defer func() {
		t.peakRSS = make([]int64, len(t.servers))
		for i, s := range smp {
			t.peakRSS[i], _ = s.Stop()
		}
	}()
	if slices.Contains(ops, "get") {
		for _, srv := range t.servers {
			log.Printf("%s: preloading %d objects per size", srv.name, getKeys)
			if err := preload(ctx, srv, t.bucket, sizes, p); err != nil {
				return err
			}
		}
	}
	for _, op := range ops {
		for _, size := range sizes {
			for _, conc := range concs {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("interrupted: %w", err)
				}
				t.rows = append(t.rows, t.measure(ctx, cell{op: op, size: size, concurrency: conc}, p))
			}
		}
	}
	return nil
}

// measure runs one cell on each server for every round, alternating the order.
func (t *tableRun) measure(ctx context.Context, c cell, p payloads) row {
	n := len(t.servers)
	r := row{c: c, opsPerS: make([][]float64, n), cpu: make([][][]float64, n), errs: make([]int64, n), firstErr: make([]error, n)}
	for round := range t.rounds {
		for k := range n {
			i := k
			if round%2 == 1 {
				i = n - 1 - k
			}
			srv := t.servers[i]
			if t.sync {
				syscall.Sync()
			}
			tag := fmt.Sprintf("r%d", round)
			before := cpuSnap(srv.cpu)
			res := runCell(ctx, srv, t.bucket, c, t.lim, p, tag, t.unsigned)
			r.cpu[i] = append(r.cpu[i], cpuPerOp(before, cpuSnap(srv.cpu), res.ops))
			log.Printf("%-10s %s %-6s c=%-2d  %8.1f ops/s %8.1f MB/s  (%d ops in %.2fs, %d errors)",
				srv.name, c.op, formatSize(c.size), c.concurrency, res.opsPerSec(),
				res.opsPerSec()*float64(c.size)/1e6, res.ops, res.elapsed.Seconds(), res.errs)
			if res.firstErr != nil {
				log.Printf("%s: first error: %v", srv.name, res.firstErr)
			}
			r.opsPerS[i] = append(r.opsPerS[i], res.opsPerSec())
			r.errs[i] += res.errs
			if r.firstErr[i] == nil {
				r.firstErr[i] = res.firstErr
			}
			// Large PUTs are removed so the data directories stay small;
			// small ones are left, they cost little and deleting them is slow.
			if c.op == "put" && c.size >= 1<<20 {
				if bad := deleteKeys(ctx, srv, t.bucket, res.putKeys, 16); bad > 0 {
					log.Printf("%s: %d deletes failed", srv.name, bad)
				}
			}
		}
	}
	return r
}

// print writes the notes and the markdown table.
func (t *tableRun) print(w io.Writer, co clientOptions, payload string) {
	fmt.Fprintf(w, "\n### Throughput\n\n")
	fmt.Fprintf(w, "Cells: at most %s or %d operations (and at most %s) per server; %d round(s), median shown. MB/s = 10^6 bytes/s.\n",
		t.lim.duration, t.lim.maxOps, formatSize(t.lim.maxBytes), t.rounds)
	fmt.Fprintf(w, "SDK: aws-sdk-go-v2, path-style, no retries, checksum calculation/validation %s, PUT payload %s.\n", co.checksum, payload)
	for _, srv := range t.servers {
		if h := srv.wire.firstHeaders("PutObject"); h != "" {
			fmt.Fprintf(w, "%s PUT sent: %s.\n", srv.name, h)
		}
		if h := srv.wire.firstHeaders("PutObject-unsigned"); h != "" && payload == "unsigned" {
			fmt.Fprintf(w, "%s PUT sent: %s.\n", srv.name, h)
		}
	}
	fmt.Fprintln(w)

	var hdr, sep strings.Builder
	hdr.WriteString("| op | size | conc |")
	sep.WriteString("|---|---|---|")
	for _, srv := range t.servers {
		fmt.Fprintf(&hdr, " %s ops/s | %s MB/s |", srv.name, srv.name)
		sep.WriteString("---:|---:|")
	}
	if len(t.servers) == 2 {
		fmt.Fprintf(&hdr, " %s/%s |", t.servers[0].name, t.servers[1].name)
		sep.WriteString("---:|")
	}
	hdr.WriteString(" errors |")
	sep.WriteString("---|")
	fmt.Fprintln(w, hdr.String())
	fmt.Fprintln(w, sep.String())
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %d |", strings.ToUpper(r.c.op), formatSize(r.c.size), r.c.concurrency)
		meds := make([]float64, len(t.servers))
		for i := range t.servers {
			meds[i] = median(r.opsPerS[i])
			fmt.Fprintf(w, " %s | %s |", fmtNum(meds[i]), fmtNum(meds[i]*float64(r.c.size)/1e6))
		}
		if len(t.servers) == 2 {
			ratio := "n/a"
			if meds[1] > 0 {
				ratio = fmt.Sprintf("%.2f", meds[0]/meds[1])
			}
			fmt.Fprintf(w, " %s |", ratio)
		}
		var es []string
		for i := range t.servers {
			es = append(es, fmt.Sprint(r.errs[i]))
		}
		fmt.Fprintf(w, " %s |\n", strings.Join(es, "/"))
	}
	t.printCPU(w)
	for i, srv := range t.servers {
		if srv.pid != 0 {
			fmt.Fprintf(w, "\n%s peak VmRSS during the table: %.1f MiB", srv.name, float64(t.peakRSS[i])/(1<<20))
		}
	}
	fmt.Fprintln(w)
}

func fmtNum(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// printCPU writes the CPU ms per operation of the processes each server
// was charged (-a-cpu, -b-cpu), median over the rounds.
func (t *tableRun) printCPU(w io.Writer) {
	some := false
	for _, srv := range t.servers {
		some = some || len(srv.cpu) > 0
	}
	if !some {
		return
	}
	fmt.Fprintf(w, "\nCPU ms per operation (utime+stime from /proc/PID/stat, median of the rounds; client: s3bench itself):\n\n")
	var hdr, sep strings.Builder
	hdr.WriteString("| op | size | conc |")
	sep.WriteString("|---|---|---|")
	for _, srv := range t.servers {
		for _, p := range srv.cpu {
			fmt.Fprintf(&hdr, " %s: %s |", srv.name, p.label)
			sep.WriteString("---:|")
		}
		if len(srv.cpu) > 0 {
			fmt.Fprintf(&hdr, " %s: total |", srv.name)
			sep.WriteString("---:|")
		}
	}
	fmt.Fprintln(w, hdr.String())
	fmt.Fprintln(w, sep.String())
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %d |", strings.ToUpper(r.c.op), formatSize(r.c.size), r.c.concurrency)
		for i, srv := range t.servers {
			if len(srv.cpu) == 0 {
				continue
			}
			total := 0.0
			for j := range srv.cpu {
				var xs []float64
				for _, round := range r.cpu[i] {
					if round[j] >= 0 {
						xs = append(xs, round[j])
					}
				}
				m := median(xs)
				total += m
				fmt.Fprintf(w, " %s |", fmtNum(m))
			}
			fmt.Fprintf(w, " %s |", fmtNum(total))
		}
		fmt.Fprintln(w)
	}
}
