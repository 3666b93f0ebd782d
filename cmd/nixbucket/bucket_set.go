package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/suggest"
)

// bucketSettings names every setting of `bucket set`, for its errors.
const bucketSettings = "priority=N, want-mass-query=0|1, keep-days=N, max-size=SIZE, gc=on|off, gc-grace=DURATION, abort-uploads-days=N, " + upstreamSettings

// bucketSettingNames are the names bucketSettings lists, for "did you mean".
var bucketSettingNames = func() []string {
	var names []string
	for _, kv := range strings.Split(bucketSettings, ", ") {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	return names
}()

// bucketSetCmd sets what nix-cache-info says (priority, want-mass-query),
// the retention of nixbucket gc (keep-days, max-size, gc, gc-grace) and
// the age at which abandoned multipart uploads are aborted, each kind
// stored only when one of its settings is given, and the upstreams a
// pull-through bucket fetches missing paths from (bucket_upstream.go).
func bucketSetCmd(fs *flag.FlagSet, data *string, args []string) error {
	pos, err := parse(fs, args, 2, 14, "bucket set BUCKET SETTING=VALUE...")
	if err != nil {
		return err
	}
	bucket := pos[0]
	return withAdmin(*data, func(a *admin) error {
		st, err := a.store.CacheSettings(a.ctx, bucket)
		if err != nil {
			return err
		}
		ret, err := a.store.Retention(a.ctx, bucket)
		if err != nil {
			return err
		}
		abortDays, retSet, csSet := -1, false, false
		for _, kv := range pos[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if ok, err := setRetention(&ret, k, v); ok {
				if err != nil {
					return err
				}
				retSet = true
				continue
			}
			if ok, err := setUpstream(&st, k, v); ok {
				if err != nil {
					return err
				}
				csSet = true
				continue
			}
			switch k {
			case "priority":
				if st.Priority, err = strconv.Atoi(v); err != nil || st.Priority < 0 {
					return fmt.Errorf("priority=%q: want a non-negative integer", v)
				}
				csSet = true
			case "want-mass-query":
				if v != "0" && v != "1" {
					return fmt.Errorf("want-mass-query=%q: want 0 or 1", v)
				}
				st.WantMassQuery = v == "1"
				csSet = true
			case "abort-uploads-days":
				if abortDays, err = strconv.Atoi(v); err != nil || abortDays < 0 {
					return fmt.Errorf("abort-uploads-days=%q: want a non-negative integer (0: never)", v)
				}
			default:
				if near := suggest.Nearest(k, bucketSettingNames); near != "" {
					return fmt.Errorf("unknown setting %q; did you mean %s=%s? (%s)", kv, near, v, bucketSettings)
				}
				return fmt.Errorf("unknown setting %q (%s)", kv, bucketSettings)
			}
		}
		if abortDays >= 0 {
			if err := (&lifecycle.Service{Store: a.store}).SetAbortUploadsDays(a.ctx, bucket, abortDays); err != nil {
				return err
			}
		}
		if retSet {
			if err := a.store.SetRetention(a.ctx, bucket, ret); err != nil {
				return err
			}
		}
		if csSet {
			return a.store.SetCacheSettings(a.ctx, bucket, st)
		}
		return nil
	})
}
