package diskspace

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestParseMinFree(t *testing.T) {
	const total = 100 << 30 // a 100 GiB file system
	for _, tc := range []struct {
		in   string
		want int64 // bytes on total
	}{
		{"", 1 << 30},
		{"auto", 1 << 30},
		{"0", 0},
		{"0%", 0},
		{"5%", 5 << 30},
		{"0.5%", 512 << 20},
		{"1GiB", 1 << 30},
		{"1G", 1 << 30},
		{"512MiB", 512 << 20},
		{"512m", 512 << 20},
		{"500MB", 500e6},
		{"2 GB", 2e9},
		{"64KiB", 64 << 10},
		{"1073741824", 1 << 30},
		{"100b", 100},
	} {
		m, err := ParseMinFree(tc.in)
		if err != nil {
			t.Errorf("ParseMinFree(%q): %v", tc.in, err)
			continue
		}
		if got := m.Of(total); got != tc.want {
			t.Errorf("ParseMinFree(%q).Of(100 GiB) = %d, want %d", tc.in, got, tc.want)
		}
		if again, err := ParseMinFree(m.String()); err != nil || again.Of(total) != tc.want {
			t.Errorf("ParseMinFree(%q).String() = %q does not read back (%v)", tc.in, m.String(), err)
		}
	}
	for _, bad := range []string{"x", "-1", "1X", "100%", "-2%", "GiB", "1e30G"} {
		if _, err := ParseMinFree(bad); err == nil {
			t.Errorf("ParseMinFree(%q) succeeded", bad)
		}
	}
}

// The default is 1 GiB or 2 % of the file system, whichever is smaller.
func TestMinFreeDefault(t *testing.T) {
	for _, tc := range []struct{ total, want int64 }{
		{64 << 20, int64(64<<20) * 2 / 100}, // a small tmpfs: 2 %
		{10 << 30, int64(10<<30) * 2 / 100}, // 10 GiB: 204.8 MiB
		{50 << 30, 1 << 30},                 // 50 GiB: 1 GiB either way
		{1 << 40, 1 << 30},                  // 1 TiB: 1 GiB
	} {
		if got := (MinFree{}).Of(tc.total); got != tc.want {
			t.Errorf("default on %d bytes = %d, want %d", tc.total, got, tc.want)
		}
	}
}

// fakeDisk is a file system whose free space the test sets.
type fakeDisk struct {
	mu           sync.Mutex
	avail, total int64
}

func (d *fakeDisk) set(avail int64) { d.mu.Lock(); d.avail = avail; d.mu.Unlock() }
func (d *fakeDisk) statfs(string) (int64, int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.avail, d.total, nil
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func newFakeGuard(t *testing.T, d *fakeDisk, min MinFree) (*Guard, *logBuf) {
	t.Helper()
	log := &logBuf{}
	g := &Guard{dir: t.TempDir(), log: slog.New(slog.NewTextHandler(log, nil)), statfs: d.statfs}
	g.reserve = filepath.Join(g.dir, ReserveName)
	g.min = min.Of(d.total)
	g.size = minReserve
	return g, log
}

// Under the threshold writes are refused with an error matching ENOSPC,
// the crossing is logged once, and so is the way back.
func TestGuardRefusesUnderMinFreeAndLogsCrossingsOnce(t *testing.T) {
	d := &fakeDisk{avail: 500 << 20, total: 1 << 40}
	g, log := newFakeGuard(t, d, MinFree{Bytes: 100 << 20, Set: true})
	if err := g.Admit(1 << 20); err != nil {
		t.Fatalf("Admit with room: %v", err)
	}
	d.set(50 << 20)
	for range 3 {
		err := g.Admit(-1)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Admit under the minimum: %v, want ENOSPC", err)
		}
	}
	if n := log.count("under the minimum"); n != 1 {
		t.Errorf("logged the drop %d times, want once", n)
	}
	d.set(300 << 20)
	for range 3 {
		if err := g.Admit(0); err != nil {
			t.Fatalf("Admit once space is back: %v", err)
		}
	}
	if n := log.count("accepting writes again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once", n)
	}
	// One write too large for what is left above the minimum is refused
	// alone: it is not a drop under the minimum.
	if err := g.Admit(250 << 20); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Admit of a write that does not fit: %v, want ENOSPC", err)
	}
	if err := g.Admit(1 << 20); err != nil {
		t.Errorf("Admit of a small write after a big refusal: %v", err)
	}
	if n := log.count("under the minimum"); n != 1 {
		t.Errorf("a refused big write was logged as a drop")
	}
}

// The reserve is made when it fits over the minimum, released on demand,
// and made again once space is back.
func TestGuardReserve(t *testing.T) {
	d := &fakeDisk{avail: 500 << 20, total: 1 << 40}
	g, log := newFakeGuard(t, d, MinFree{Bytes: 100 << 20, Set: true})
	g.check(false)
	fi, err := os.Stat(g.reserve)
	if err != nil {
		t.Fatalf("no reserve made: %v", err)
	}
	if fi.Size() != g.size || fi.Mode().Perm() != 0o600 {
		t.Errorf("reserve of %d bytes, mode %04o; want %d, 0600", fi.Size(), fi.Mode().Perm(), g.size)
	}
	if !g.Release() {
		t.Fatal("Release found no reserve")
	}
	if _, err := os.Stat(g.reserve); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve still there after Release: %v", err)
	}
	if g.Release() {
		t.Error("a second Release claimed to free something")
	}
	if log.count("released the disk-space reserve") != 1 {
		t.Error("Release was not logged")
	}
	// No room over the minimum for it: not made.
	d.set(100<<20 + g.size/2)
	g.check(false)
	if _, err := os.Stat(g.reserve); err == nil {
		t.Fatal("reserve made although it would take free space under the minimum")
	}
	d.set(500 << 20)
	g.check(false)
	if _, err := os.Stat(g.reserve); err != nil {
		t.Fatalf("reserve not made again once space is back: %v", err)
	}
}

// Open on a real directory: the threshold and the reserve follow the file
// system's size.
func TestOpenMakesReserve(t *testing.T) {
	dir := t.TempDir()
	avail, total, err := statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Open(dir, Options{MinFree: MinFree{Set: true}}) // threshold off
	if err != nil {
		t.Fatal(err)
	}
	if g.MinFree() != 0 {
		t.Errorf("MinFree() = %d, want 0", g.MinFree())
	}
	want := min(max(total/256, minReserve), maxReserve)
	fi, err := os.Stat(filepath.Join(dir, ReserveName))
	if avail < 2*want {
		t.Skipf("only %d bytes free here", avail)
	}
	if err != nil || fi.Size() != want {
		t.Fatalf("reserve: %v, size %d, want %d", err, fi.Size(), want)
	}
}

// Short says yes under the threshold or under the reserve's size, and no
// with room above both (so a failure for another reason keeps the reserve).
func TestGuardShort(t *testing.T) {
	d := &fakeDisk{avail: 500 << 20, total: 1 << 40}
	g, _ := newFakeGuard(t, d, MinFree{Bytes: 100 << 20, Set: true})
	for _, c := range []struct {
		avail int64
		want  bool
	}{{500 << 20, false}, {100 << 20, false}, {100<<20 - 1, true}, {0, true}} {
		d.set(c.avail)
		if got := g.Short(); got != c.want {
			t.Errorf("Short() with %d free over a %d threshold = %v, want %v", c.avail, g.min, got, c.want)
		}
	}
	g, _ = newFakeGuard(t, d, MinFree{Set: true}) // no threshold: the reserve's size counts
	for _, c := range []struct {
		avail int64
		want  bool
	}{{g.size, false}, {g.size - 1, true}, {0, true}} {
		d.set(c.avail)
		if got := g.Short(); got != c.want {
			t.Errorf("Short() with %d free, no threshold, a %d reserve = %v, want %v", c.avail, g.size, got, c.want)
		}
	}
}
