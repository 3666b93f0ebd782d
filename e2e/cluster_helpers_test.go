package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// The cluster tests (cluster_*_test.go): several `nixbucket serve`
// processes, each with a data directory of its own, share one PostgreSQL
// database (--meta) and one bucket of the S3 store (--blobs), as the
// servers behind a load balancer do. Clients spread their requests across
// the nodes, and everything one node acknowledged must show through every
// other at once.

// clusterAccount is the --account every node is given, as a deployment
// gives all of them the same (the ARNs in policies name it).
const clusterAccount = "123456789012"

// cluster is the nodes of one scale-out deployment.
type cluster struct {
	Nodes []*Server
	Meta  string   // the PostgreSQL URL
	Blobs string   // the blob store URL, s3://…
	Env   []string // what each node gets besides the test's environment: the S3 store's credentials
}

// startCluster starts n nodes at once on a fresh PostgreSQL database and a
// fresh bucket of the S3 store, so that they race through the first start
// of the store, and checks that they agree on the admin key and on the
// default cache's signing key. It skips without PostgreSQL or versitygw
// (failing under CI), and when the target is not nixbucket.
func startCluster(t *testing.T, n int, args ...string) *cluster {
	t.Helper()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	metaURL := testenv.Postgres(t)
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	c := &cluster{
		Meta:  metaURL,
		Blobs: "s3://" + bucket + "/cache?endpoint=" + st.Endpoint,
		// The AWS default chain of each node finds the store's keys in
		// the environment, and nothing of the machine's.
		Env: append(st.Env(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE="),
	}
	argv := append([]string{"--meta", metaURL, "--blobs", c.Blobs, "--account", clusterAccount}, args...)
	c.Nodes = make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c.Nodes[i] = newServer(t, t.TempDir(), c.Env, argv...)
		wg.Go(func() { errs[i] = c.Nodes[i].launch("http") })
	}
	wg.Wait()
	for i, s := range c.Nodes {
		s.opened(errs[i])
	}
	for i, s := range c.Nodes[1:] {
		if s.AccessKey != c.Nodes[0].AccessKey || s.SecretKey != c.Nodes[0].SecretKey {
			t.Fatalf("node %d has the admin key %s, node 0 %s: the nodes made an admin key each", i+1, s.AccessKey, c.Nodes[0].AccessKey)
		}
	}
	if keys := strings.Fields(c.publicKey(t, nixCacheBucket)); len(keys) != 1 {
		t.Fatalf("%s has the signing keys %q after the first start of %d nodes, want one", nixCacheBucket, keys, n)
	}
	return c
}

// adminRun runs `nixbucket ARGS --meta URL` as an operator does beside the
// running nodes, without failing the test.
func (c *cluster) adminRun(t testing.TB, args ...string) cmdResult {
	t.Helper()
	return runCmd(t, append(os.Environ(), c.Env...), t.TempDir(), serverBin, append(args, "--meta", c.Meta)...)
}

// admin is adminRun that fails the test unless the command succeeds, and
// returns its standard output.
func (c *cluster) admin(t testing.TB, args ...string) string {
	t.Helper()
	r := c.adminRun(t, args...)
	if r.Err != nil {
		t.Fatalf("nixbucket %s --meta …: %v\n%s%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// publicKey returns a bucket's keys in trusted-public-keys form.
func (c *cluster) publicKey(t testing.TB, bucket string) string {
	t.Helper()
	return strings.TrimSpace(c.admin(t, "bucket", "public-key", bucket))
}

// parseCredentials returns the key pair of a credentials section as
// `nixbucket user create` prints it.
func parseCredentials(t testing.TB, section string) (id, secret string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if id == "" || secret == "" {
		t.Fatalf("no key pair in the credentials section:\n%s", section)
	}
	return id, secret
}

// rawS3 sends S3 requests as they are, signed with SigV4 by aws-sdk-go-v2's
// signer (or unsigned, without a key): nothing is retried, redirected or
// rewritten, so the test sees exactly what the node answered, fast enough
// for thousands of requests a second.
type rawS3 struct {
	id, secret string
	hc         *http.Client
	signer     *v4.Signer
}

// newRawS3 returns a client signing with the key pair, or an anonymous one
// when id is "".
func newRawS3(id, secret string) *rawS3 {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	return &rawS3{id: id, secret: secret, hc: &http.Client{Transport: tr, Timeout: time.Minute}, signer: v4.NewSigner()}
}

// rawResp is one answer.
type rawResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// etag returns the answer's ETag without quotes.
func (r rawResp) etag() string { return strings.Trim(r.Header.Get("ETag"), `"`) }

func (r rawResp) String() string {
	return fmt.Sprintf("%d ETag %s, %d bytes %.200q", r.Status, r.Header.Get("ETag"), len(r.Body), r.Body)
}

// send sends method to endpoint+path (path holds the query, if any) with
// body, whose bytes are signed, and headers given as name, value pairs.
func (c *rawS3) send(ctx context.Context, method, endpoint, path string, body []byte, hdr ...string) (rawResp, error) {
	payload := "UNSIGNED-PAYLOAD"
	if c.id != "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	return c.stream(ctx, method, endpoint, path, bytes.NewReader(body), int64(len(body)), payload, hdr...)
}

// stream is send for a body read as it goes, of size bytes, signed as
// payload says (a hex SHA-256 or UNSIGNED-PAYLOAD).
func (c *rawS3) stream(ctx context.Context, method, endpoint, path string, body io.Reader, size int64, payload string, hdr ...string) (rawResp, error) {
	req, err := http.NewRequestWithContext(ctx, method, endpoint+path, body)
	if err != nil {
		return rawResp{}, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.id != "" {
		req.Header.Set("X-Amz-Content-Sha256", payload)
		creds := aws.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret}
		if err := c.signer.SignHTTP(ctx, creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
			return rawResp{}, err
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return rawResp{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawResp{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return rawResp{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// must is send that fails the test unless the answer has status want.
func (c *rawS3) must(t testing.TB, want int, method, endpoint, path string, body []byte, hdr ...string) rawResp {
	t.Helper()
	r, err := c.send(t.Context(), method, endpoint, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, endpoint, path, err)
	}
	if r.Status != want {
		t.Fatalf("%s %s%s: %s, want %d", method, endpoint, path, r, want)
	}
	return r
}

// close drops the client's idle connections.
func (c *rawS3) close() { c.hc.CloseIdleConnections() }
