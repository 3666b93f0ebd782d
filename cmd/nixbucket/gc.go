package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/lifecycle/gc"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/units"
)

// gcMemoryLimit is the Go runtime's soft memory limit for nixbucket gc.
const gcMemoryLimit = 240 << 20

func gcCmd(args []string) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	data := dataFlag(fs)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, and remove nothing")
	blobsURL := blobsFlag(fs)
	rest := &autoFloat{}
	fs.Var(rest, "rest", "after each batch of deletes, sleep `N` times as long as it took (default 1 while a server runs on the data directory, else 0)")
	pos, err := parse(fs, args, 1, 1, "gc BUCKET [--dry-run] [--data DIR]")
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The collector's graph of a million paths is about 170 MiB
		// live; a soft limit makes Go collect its scan garbage sooner
		// than at twice that, for a peak RSS under 300 MiB
		// (bench/gc.sh) at little cost in time.
		debug.SetMemoryLimit(gcMemoryLimit)
	}
	yieldToServer(*data)
	return withAdmin(*data, func(a *admin) error {
		bucket := pos[0]
		r, err := a.store.Retention(a.ctx, bucket)
		if err != nil {
			return err
		}
		// Beside a running server: leave its uploads in progress alone.
		svc, blobs, err := adminObjects(a, *data, *blobsURL)
		if err != nil {
			return err
		}
		defer blobs.Close()
		now, err := gcClock()
		if err != nil {
			return err
		}
		if !rest.set {
			rest.v = 0
			if serverRunning(*data) {
				rest.v = 1
			}
		}
		p := &gcProgress{}
		c := &gc.Collector{
			Meta: a.store, Objects: svc, Pins: meta.Pinned{Pins: a.store}, Progress: p.show, Now: now, Rest: rest.v,
			Announce: a.announceObjects,
		}
		rep, err := c.Run(a.ctx, bucket, r, *dryRun)
		if err != nil {
			return err
		}
		fmt.Print(rep.String())
		return nil
	})
}

// serverRunning reports whether a server holds the data directory's lock
// (see internal/server's lockData).
func serverRunning(data string) bool {
	f, err := os.Open(filepath.Join(data, "lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// gcClock is the collector's clock: the environment's NIXBUCKET_GC_NOW
// (RFC 3339) when set, so that tests judge ages without sleeping; else
// nil, the real clock.
func gcClock() (func() time.Time, error) {
	v := os.Getenv("NIXBUCKET_GC_NOW")
	if v == "" {
		return nil, nil
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, fmt.Errorf("NIXBUCKET_GC_NOW=%q: want an RFC 3339 time", v)
	}
	return func() time.Time { return at }, nil
}

// gcProgress prints how a run advances on standard error.
type gcProgress struct {
	mu    sync.Mutex
	last  time.Time
	phase string
}

// show prints a line at each new phase, then once a second, and at the
// end of a phase with a total, so the last line says it finished.
func (p *gcProgress) show(phase string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if phase == p.phase && time.Since(p.last) < time.Second && (total == 0 || done < total) {
		return
	}
	p.last, p.phase = time.Now(), phase
	if total > 0 {
		fmt.Fprintf(os.Stderr, "gc: %s: %d of %d\n", phase, done, total)
	} else {
		fmt.Fprintf(os.Stderr, "gc: %s: %d\n", phase, done)
	}
}

// setRetention applies one retention setting of `bucket set` to r; ok is
// false for a key that is not one.
func setRetention(r *meta.Retention, k, v string) (ok bool, err error) {
	switch k {
	case "keep-days":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, fmt.Errorf("keep-days=%q: want a number of days (0: no limit)", v)
		}
		r.KeepDays = n
	case "max-size":
		if v == "off" || v == "none" {
			r.MaxSize = 0
			return true, nil
		}
		m, err := diskspace.ParseMinFree(v)
		if err != nil || m.Percent > 0 || strings.HasSuffix(v, "%") {
			return true, fmt.Errorf("max-size=%q: want a size such as 200GiB or 500MB (0: no limit)", v)
		}
		r.MaxSize = m.Bytes
	case "gc":
		switch v {
		case "on":
			r.GC = true
		case "off":
			r.GC = false
		default:
			return true, fmt.Errorf("gc=%q: want on or off", v)
		}
	case "gc-grace":
		d, err := parseTTL(v)
		if err != nil || d <= 0 {
			return true, fmt.Errorf("gc-grace=%q: want a duration such as 1h, 90m or 1d", v)
		}
		r.Grace = d
	default:
		return false, nil
	}
	return true, nil
}

// retentionLines describes a bucket's retention for bucket info.
func retentionLines(r meta.Retention) string {
	keep := "no limit"
	if r.KeepDays > 0 {
		keep = fmt.Sprintf("%d days", r.KeepDays)
	}
	size := "no limit"
	if r.MaxSize > 0 {
		size = fmt.Sprintf("%d (%s)", r.MaxSize, units.Bytes(r.MaxSize))
	}
	on := "off"
	if r.GC {
		on = "on (serve --gc-interval)"
	}
	return fmt.Sprintf("keep-days:       %s\nmax-size:        %s\ngc:              %s\ngc-grace:        %s\n", keep, size, on, r.Grace)
}

// autoFloat is a number flag whose default is decided when the command
// runs. Unset, its help shows no default of its own (a sentinel such as
// -1 would be printed as "(default -1)"); the usage text says what it is.
type autoFloat struct {
	v   float64
	set bool
}

func (f *autoFloat) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatFloat(f.v, 'g', -1, 64)
}

func (f *autoFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("want a number, 0 or more")
	}
	f.v, f.set = v, true
	return nil
}
