package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestPushStalled pushes through a proxy that stops passing bytes in the
// middle of a NAR's upload, as a paused server or a link that went quiet
// does: TCP keeps such a connection open for good, and without a stall
// timeout the push waited for ever (where `nix copy` gives up after its
// stalled-download-timeout). Each push must fail with a message that says
// the connection stalled, leave no narinfo and no multipart upload behind
// once rerun, and the rerun must push the closure so that Nix substitutes
// it with signatures required. Over http:// the NAR goes out with
// sendfile(2) from a spooled file; over s3:// in multipart parts through
// the AWS SDK. A stall before any answer (a GET, a HEAD) is a read: the
// retries of the stalled upload meet that one.
func TestPushStalled(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	e := pushS3Of(s)
	// 40 MiB of random bytes, uncompressed: more than the socket buffers
	// between push and the proxy hold, so the upload blocks in a write.
	c := nixBuildClosure(t, 1, 40<<10, "push-stall")
	awsFiles := pushAWSFiles(t, "cache-upload", e.AccessKey, e.Secret, "us-east-1")
	cases := []struct {
		name, bucket string
		url          func(addr, bucket string) string
	}{
		{"http", "push-stall-http", func(addr, bucket string) string {
			return "http://" + addr + "/" + bucket + "?compression=none"
		}},
		{"s3-multipart", "push-stall-s3", func(addr, bucket string) string {
			return fmt.Sprintf("s3://%s?profile=cache-upload&endpoint=%s&scheme=http&compression=none&multipart-threshold=5M", bucket, addr)
		}},
	}
	for _, tc := range cases {
		pushCreateBucket(t, e, tc.bucket)
		nixAdmin(t, s, "bucket", "key", "generate", tc.bucket)
		env := pushEnv(t, awsFiles...)
		proxy := testenv.NewProxy(t, s.Addr)
		url := tc.url(proxy.Addr(), tc.bucket)
		// Past the small requests before it, 8 MiB into the NAR.
		proxy.StallAfter(8 << 20)
		r := pushRun(t, env, "--stall-timeout", "1s", "--netrc-file", nixNetrc(s), "--to", url, c.Top)
		if r.Err == nil || !strings.Contains(r.Stderr, "the connection stalled: no byte") {
			t.Errorf("%s: push through a stalled connection exited with %v, want a failure saying it stalled\n%s", tc.name, r.Err, tail(r.Stderr, 4000))
		}
		proxy.Stall(false)
		cache := nixCacheURL(s, tc.bucket)
		if got := nixHTTP(t, nixNetrc(s), "HEAD", cache+"/"+nixHashPart(c.Top)+".narinfo"); got.Status != 404 {
			t.Errorf("%s: HEAD narinfo after the stalled push: %d, want 404", tc.name, got.Status)
		}
		paths, sum := pushMust(t, env, "--stall-timeout", "1s", "--netrc-file", nixNetrc(s), "--to", url, c.Top)
		pushWantAll(t, tc.name+": rerun", c, paths, sum, "pushed")
		if left := pushUploads(t, e, tc.bucket); len(left) != 0 {
			t.Errorf("%s: %d multipart uploads left after the rerun: %s", tc.name, len(left), aws.ToString(left[0].Key))
		}
	}
	for _, tc := range cases {
		c.delete(t)
		nixMustSubstitute(t, nixCacheURL(s, tc.bucket), nixServerKey(t, s, tc.bucket), nixNetrc(s), c.Top)
		c.checkDumps(t)
	}
}
