package diskspace

import (
	"fmt"
	"strconv"
	"strings"
)

// Defaults of MinFree: the smaller of defaultBytes and defaultPercent of
// the file system's size.
const (
	defaultBytes   = 1 << 30 // 1 GiB
	defaultPercent = 2
)

// MinFree is the free space under which new writes are refused: a number
// of bytes, or a percentage of the file system's size. The zero value is
// the default, 1 GiB or 2 %, whichever is smaller.
type MinFree struct {
	Bytes   int64   // used when Percent is 0 and Set
	Percent float64 // of the file system's size, when not 0
	Set     bool    // false: the default
}

var units = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first, so "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseMinFree parses a --min-free value: "" or "auto" for the default,
// a percentage ("2%", "0.5%"), or a size in bytes with an optional unit
// ("1GiB", "512MiB", "500MB", "64m", "1073741824"; K, M, G and T alone are
// binary units). "0" turns the threshold off: only a disk that is really
// full refuses writes then.
func ParseMinFree(s string) (MinFree, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" || v == "auto" {
		return MinFree{}, nil
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f >= 100 {
			return MinFree{}, fmt.Errorf("min free space %q: want a percentage from 0 to under 100", s)
		}
		if f == 0 {
			return MinFree{Set: true}, nil
		}
		return MinFree{Percent: f, Set: true}, nil
	}
	mult := 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f*mult > 1<<62 {
		return MinFree{}, fmt.Errorf("min free space %q: want a size such as 1GiB, 512MiB or 500MB, or a percentage such as 2%%", s)
	}
	return MinFree{Bytes: int64(f * mult), Set: true}, nil
}

// Of returns the threshold in bytes on a file system of total bytes.
func (m MinFree) Of(total int64) int64 {
	switch {
	case !m.Set:
		return min(defaultBytes, int64(float64(total)*defaultPercent/100))
	case m.Percent > 0:
		return int64(float64(total) * m.Percent / 100)
	default:
		return m.Bytes
	}
}
