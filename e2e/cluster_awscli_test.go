package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestClusterAWSCLI spreads the aws CLI's requests across three nodes, as
// a load balancer would: an object put through A is read, headed and
// listed through B and C; deleted through B, it is a 404 through A and C
// at once. A multipart upload created on A gets its parts through A and B,
// is listed and completed through C, and reads back whole through A.
func TestClusterAWSCLI(t *testing.T) {
	t.Parallel()
	need(t, "aws")
	c := startCluster(t, 3)
	a, b, cn := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	env := a.clientEnv() // the nodes share the admin key: one profile serves all
	dir := t.TempDir()
	awsRun := func(s *Server, args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	// runAll runs the calls at once, as clients of a balancer do, and
	// returns their results in order.
	runAll := func(calls ...awsCall) []cmdResult {
		rs := make([]cmdResult, len(calls))
		var wg sync.WaitGroup
		for i, cl := range calls {
			wg.Go(func() { rs[i] = awsRun(cl.s, cl.args...) })
		}
		wg.Wait()
		return rs
	}
	// awsAll is runAll that fails the test unless every call succeeds,
	// and returns their outputs.
	awsAll := func(calls ...awsCall) []string {
		t.Helper()
		outs := make([]string, len(calls))
		for i, r := range runAll(calls...) {
			if r.Err != nil {
				t.Fatalf("aws %s through %s: %v\n%s%s", strings.Join(calls[i].args, " "), calls[i].s.Endpoint, r.Err, r.Stdout, r.Stderr)
			}
			outs[i] = r.Stdout
		}
		return outs
	}
	aws := func(s *Server, args ...string) string {
		t.Helper()
		return awsAll(awsCall{s, args})[0]
	}
	const bucket, key = "spread", "dir/object.bin"
	aws(a, "s3api", "create-bucket", "--bucket", bucket)

	t.Run("object", func(t *testing.T) {
		file := filepath.Join(dir, "object.bin")
		writeRandomFile(t, file, 3<<20, 7)
		var put struct{ ETag string }
		decodeJSON(t, aws(a, "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file), &put)
		if want := `"` + fileMD5(t, file) + `"`; put.ETag != want {
			t.Fatalf("put-object through A: ETag %s, want %s", put.ETag, want)
		}
		// Read, head and list through B and C, all at once.
		back := filepath.Join(dir, "back-b.bin")
		list := []string{"s3api", "list-objects-v2", "--bucket", bucket}
		outs := awsAll(
			awsCall{b, []string{"s3api", "get-object", "--bucket", bucket, "--key", key, back}},
			awsCall{cn, []string{"s3api", "head-object", "--bucket", bucket, "--key", key}},
			awsCall{b, list}, awsCall{cn, list})
		sameFile(t, file, back)
		var head awsHead
		decodeJSON(t, outs[1], &head)
		if head.ETag != put.ETag || head.ContentLength != 3<<20 {
			t.Errorf("head-object through C: ETag %s length %d, want %s %d", head.ETag, head.ContentLength, put.ETag, 3<<20)
		}
		for i, out := range outs[2:] {
			var list struct {
				Contents []struct {
					Key  string
					ETag string
					Size int64
				}
			}
			decodeJSON(t, out, &list)
			if len(list.Contents) != 1 || list.Contents[0].Key != key || list.Contents[0].ETag != put.ETag || list.Contents[0].Size != 3<<20 {
				t.Errorf("list-objects-v2 through %s: %+v, want only %s (%s, %d bytes)", []string{"B", "C"}[i], list.Contents, key, put.ETag, 3<<20)
			}
		}

		aws(b, "s3api", "delete-object", "--bucket", bucket, "--key", key)
		rs := runAll(
			awsCall{a, []string{"s3api", "head-object", "--bucket", bucket, "--key", key}},
			awsCall{cn, []string{"s3api", "get-object", "--bucket", bucket, "--key", key, filepath.Join(dir, "deleted")}})
		if rs[0].Err == nil || !strings.Contains(rs[0].Stderr, "404") {
			t.Errorf("head-object through A right after a delete through B: %v %s%s, want a 404", rs[0].Err, rs[0].Stdout, rs[0].Stderr)
		}
		if rs[1].Err == nil || !strings.Contains(rs[1].Stderr, "NoSuchKey") {
			t.Errorf("get-object through C right after a delete through B: %v %s%s, want NoSuchKey", rs[1].Err, rs[1].Stdout, rs[1].Stderr)
		}
	})

	t.Run("multipart", func(t *testing.T) {
		const mpKey = "nar/multipart.nar"
		// Parts 1 and 2 at S3's 5 MiB minimum, a short last one.
		sizes := []int64{5 << 20, 5 << 20, 1 << 20}
		nodes := []*Server{a, b, a}
		whole := filepath.Join(dir, "whole.bin")
		writeRandomFile(t, whole, sizes[0]+sizes[1]+sizes[2], 11)
		var create struct{ UploadId string }
		decodeJSON(t, aws(a, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", mpKey, "--content-type", "application/x-nix-nar"), &create)
		if create.UploadId == "" {
			t.Fatal("create-multipart-upload through A: no UploadId")
		}
		type part struct {
			ETag       string
			PartNumber int
		}
		// The parts at once, through A and B.
		parts := make([]part, len(sizes))
		var calls []awsCall
		var off int64
		for i, size := range sizes {
			f := filepath.Join(dir, "part"+strconv.Itoa(i+1))
			copyRange(t, whole, f, off, size)
			off += size
			calls = append(calls, awsCall{nodes[i], []string{"s3api", "upload-part", "--bucket", bucket, "--key", mpKey, "--upload-id", create.UploadId,
				"--part-number", strconv.Itoa(i + 1), "--body", f}})
		}
		for i, out := range awsAll(calls...) {
			var up struct{ ETag string }
			decodeJSON(t, out, &up)
			if want := `"` + fileMD5(t, filepath.Join(dir, "part"+strconv.Itoa(i+1))) + `"`; up.ETag != want {
				t.Fatalf("upload-part %d through %s: ETag %s, want %s", i+1, nodes[i].Endpoint, up.ETag, want)
			}
			parts[i] = part{ETag: up.ETag, PartNumber: i + 1}
		}
		var listed struct {
			Parts []struct {
				PartNumber int
				ETag       string
				Size       int64
			}
		}
		decodeJSON(t, aws(cn, "s3api", "list-parts", "--bucket", bucket, "--key", mpKey, "--upload-id", create.UploadId), &listed)
		if len(listed.Parts) != len(parts) {
			t.Fatalf("list-parts through C: %+v, want the %d parts uploaded through A and B", listed.Parts, len(parts))
		}
		for i, p := range listed.Parts {
			if p.PartNumber != i+1 || p.ETag != parts[i].ETag || p.Size != sizes[i] {
				t.Errorf("list-parts through C: part %+v, want #%d %s %d bytes", p, i+1, parts[i].ETag, sizes[i])
			}
		}
		doc, err := json.Marshal(map[string]any{"Parts": parts})
		if err != nil {
			t.Fatal(err)
		}
		var done struct{ ETag string }
		decodeJSON(t, aws(cn, "s3api", "complete-multipart-upload", "--bucket", bucket, "--key", mpKey, "--upload-id", create.UploadId,
			"--multipart-upload", string(doc)), &done)
		if want := `"` + multipartETag(t, whole, 5<<20) + `"`; done.ETag != want {
			t.Errorf("complete-multipart-upload through C: ETag %s, want %s", done.ETag, want)
		}
		back := filepath.Join(dir, "back-a.bin")
		aws(a, "s3api", "get-object", "--bucket", bucket, "--key", mpKey, back)
		sameFile(t, whole, back)
		var uploads struct{ Uploads []any }
		decodeJSON(t, aws(b, "s3api", "list-multipart-uploads", "--bucket", bucket), &uploads)
		if len(uploads.Uploads) != 0 {
			t.Errorf("list-multipart-uploads through B after the completion through C: %v, want none", uploads.Uploads)
		}
	})
}

// decodeJSON parses the aws CLI's JSON output into v ("" is an empty
// object: some commands print nothing).
func decodeJSON(t testing.TB, out string, v any) {
	t.Helper()
	if strings.TrimSpace(out) == "" {
		return
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aws CLI output: %v\n%s", err, out)
	}
}

// copyRange writes size bytes of src from off to a new file dst.
func copyRange(t testing.TB, src, dst string, off, size int64) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b[off:off+size], 0o644); err != nil {
		t.Fatal(err)
	}
}

// awsCall is one aws CLI command through one node.
type awsCall struct {
	s    *Server
	args []string
}
