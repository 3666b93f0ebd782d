package s3api

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// FuzzPlanRead checks the read plan of a GET against a model of S3's
// rules: any Range, conditional headers and ?partNumber, on objects simple
// and multipart. A range served lies inside the object and is the one the
// model computes (with unbounded integers: a number beyond int64 makes a
// Range nixbucket ignores, as net/http cannot serve it either), and a
// part's range is that part's bytes.
func FuzzPlanRead(f *testing.F) {
	f.Add("bytes=0-9", "", "", "", uint32(100), uint8(0))
	f.Add("bytes=-5", "", "", "", uint32(100), uint8(3))
	f.Add("bytes=90-", `"abc"`, "", "", uint32(100), uint8(0))
	f.Add("bytes=0-99999999999999999999", "", "", "", uint32(10), uint8(0))
	f.Add("bytes=-99999999999999999999", "", "", "", uint32(10), uint8(0))
	f.Add("bytes=99999999999999999999-", "", "", "", uint32(10), uint8(0))
	f.Add("", "", "*", "2", uint32(30), uint8(2))
	f.Add("bytes=1-2,3-4", "W/\"abc\", \"x\"", "Sat, 03 Jan 2026 03:04:05 GMT", "1", uint32(0), uint8(1))
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rng, ifMatch, ifNoneMatch, part string, size uint32, parts uint8) {
		obj := meta.Object{Size: int64(size), ETag: "abc", Modified: mod}
		if parts > 1 {
			// parts segments of equal size, the last taking the rest.
			obj.PartsCount = int(parts)
			each := obj.Size / int64(parts)
			for i := range int(parts) {
				s := each
				if i == int(parts)-1 {
					s = obj.Size - each*int64(parts-1)
				}
				obj.Segments = append(obj.Segments, meta.Segment{Size: s})
			}
			obj.ETag = "abc-" + strconv.Itoa(int(parts))
		}
		h := http.Header{}
		for k, v := range map[string]string{"Range": rng, "If-Match": ifMatch, "If-None-Match": ifNoneMatch} {
			if v != "" {
				h.Set(k, v)
			}
		}
		p, err := planRead(h, part, obj)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("planRead: %v is no S3 error", err)
			}
			return
		}
		if p.notModified || ifMatch != "" || ifNoneMatch != "" {
			return // conditionals: TestPlanRead
		}
		if p.byteRange != "" {
			var a, b int64
			if _, err := fmt.Sscanf(p.byteRange, "bytes=%d-%d", &a, &b); err != nil {
				t.Fatalf("byteRange %q: %v", p.byteRange, err)
			}
			if a < 0 || a > b || b >= obj.Size || p.partLength != b-a+1 ||
				p.partRange != fmt.Sprintf("bytes %d-%d/%d", a, b, obj.Size) {
				t.Fatalf("plan %+v for a %d-byte object", p, obj.Size)
			}
		}
		if part != "" {
			n, _ := strconv.Atoi(part)
			start, end := int64(0), obj.Size
			if obj.PartsCount > 0 {
				for _, s := range obj.Segments[:n-1] {
					start += s.Size
				}
				end = start + obj.Segments[n-1].Size
			}
			if want := fmt.Sprintf("bytes=%d-%d", start, end-1); end > start && p.byteRange != want || end == start && p.byteRange != "" {
				t.Fatalf("part %s of %+v: plan %+v, want %s", part, obj, p, want)
			}
			return
		}
		want, unsat := modelRange(rng, obj.Size)
		if p.byteRange != want || p.unsatisfiable != unsat {
			t.Fatalf("Range %q on %d bytes: plan %+v; want range %q, unsatisfiable %v", rng, obj.Size, p, want, unsat)
		}
	})
}

var rangeRE = regexp.MustCompile(`^bytes=([0-9]*)-([0-9]*)$`)

// modelRange is S3's reading of a Range header on an object of size
// bytes: the range to send ("bytes=FIRST-LAST"), or "" for the whole
// object, or unsatisfiable (416) — on an empty object too, where no byte
// can start a range, but for a suffix.
func modelRange(rng string, size int64) (want string, unsat bool) {
	m := rangeRE.FindStringSubmatch(rng)
	if m == nil || m[1] == "" && m[2] == "" {
		return "", false
	}
	first, _ := new(big.Int).SetString("0"+m[1], 10)
	last, _ := new(big.Int).SetString("0"+m[2], 10)
	if maxInt := big.NewInt(math.MaxInt64); first.Cmp(maxInt) > 0 || last.Cmp(maxInt) > 0 {
		return "", false
	}
	n := big.NewInt(size)
	lastByte := big.NewInt(size - 1)
	switch {
	case m[1] == "" && last.Sign() == 0:
		return "", true
	case m[1] == "" && size == 0:
		return "", false // a suffix of an empty object: its (empty) whole
	case m[1] == "":
		a := new(big.Int).Sub(n, last)
		if a.Sign() < 0 {
			a.SetInt64(0)
		}
		return fmt.Sprintf("bytes=%s-%s", a, lastByte), false
	case m[2] != "" && last.Cmp(first) < 0:
		return "", false
	case first.Cmp(n) >= 0:
		return "", true
	}
	b := lastByte
	if m[2] != "" && last.Cmp(lastByte) < 0 {
		b = last
	}
	return fmt.Sprintf("bytes=%s-%s", first, b), false
}
