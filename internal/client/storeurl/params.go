package storeurl

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CommonParams are the store URL parameters push accepts for every scheme.
var CommonParams = []string{
	"compression", "compression-level", "parallel-compression", "secret-key", "secret-keys",
	"write-nar-listing", "narinfo-compression", "ls-compression", "log-compression",
	"priority", "want-mass-query", "index-debug-info", "local-nar-cache", "trusted",
}

// S3Params are the parameters only s3:// store URLs take.
var S3Params = []string{
	"profile", "region", "scheme", "endpoint", "addressing-style", "multipart-upload",
	"buffer-size", "multipart-chunk-size", "multipart-threshold", "storage-class",
}

// paramError is an error that names its parameter itself, so Parse
// returns it as it is.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

// unknownParam is the error for a parameter push does not know: it names
// the nearest one the scheme takes, when one is close enough to be a typo.
func unknownParam(key, scheme string) error {
	names := CommonParams
	if scheme == SchemeS3 {
		names = append(slices.Clone(CommonParams), S3Params...)
	}
	if near := nearest(key, names); near != "" {
		return &paramError{fmt.Sprintf("unknown parameter %q in the store URL; did you mean %q?", key, near)}
	}
	return &paramError{fmt.Sprintf("unknown parameter %q in the store URL (%s:// URLs take %s)", key, scheme, strings.Join(names, ", "))}
}

// nearest returns the name closest to key in edit distance (ignoring
// case), if it is close enough to be a typo: at most 2 edits, and fewer
// than half of key's length; "" otherwise.
func nearest(key string, names []string) string {
	k := strings.ToLower(key)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(k, n); d < bestD && 2*d < len(k) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parseInt parses an integer parameter, with a message that names it.
func parseInt(key, val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, &paramError{fmt.Sprintf("parameter %s: %q is too large", key, val)}
		}
		return 0, &paramError{fmt.Sprintf("parameter %s: %q is not a number", key, val)}
	}
	return n, nil
}
