package storeurl

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/suggest"
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
	if near := suggest.Nearest(key, names); near != "" {
		return &paramError{fmt.Sprintf("unknown parameter %q in the store URL; did you mean %q?", key, near)}
	}
	return &paramError{fmt.Sprintf("unknown parameter %q in the store URL (%s:// URLs take %s)", key, scheme, strings.Join(names, ", "))}
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
