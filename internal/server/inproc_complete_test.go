package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// narKey is the key Nix gives a NAR file of bytes b.
func narKey(b []byte) string {
	return "nar/" + nixhash.SHA256(sha256.Sum256(b)).Nix32() + ".nar"
}

// completeBody is a CompleteMultipartUpload request naming parts by ETag.
func completeBody(etags ...string) []byte {
	var b bytes.Buffer
	b.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.Bytes()
}

// TestSlowCompletion: a CompleteMultipartUpload that has to work (onto a
// NAR's name the server hashes the assembled object) is answered as S3
// answers a long one: 200 and the XML declaration at once, spaces while
// it works, then the result, or an <Error> document that the SDKs report
// as the failure it is. A refusal known up front stays a real 4xx. The
// server under test treats every completion that passed its checks as a
// slow one, so nothing here waits on a clock. Not parallel: it sets how
// the servers it opens answer.
func TestSlowCompletion(t *testing.T) {
	defer server.SetCompleteQuiet(-1)()
	e := newEnv(t)
	b := e.bucket("slowmpu")
	p1, p2 := data(60, 5*mib), data(61, 1000)
	whole := append(append([]byte{}, p1...), p2...)
	key := narKey(whole)

	t.Run("aws-sdk-go-v2", func(t *testing.T) {
		u := e.createUpload(t, b, key)
		e1, e2 := u.part(1, p1), u.part(2, p2)
		// A refusal known before the work starts is a 400, not a 200.
		_, err := u.complete(cp(1, e1), cp(2, `"00000000000000000000000000000000"`))
		wantCode(t, err, "InvalidPart", http.StatusBadRequest)
		out, err := u.complete(cp(1, e1), cp(2, e2))
		if err != nil {
			t.Fatalf("slow CompleteMultipartUpload: %v", err)
		}
		if got, want := aws.ToString(out.ETag), multipartETag(p1, p2); got != want || aws.ToString(out.Key) != key {
			t.Errorf("CompleteMultipartUploadResult ETag %s key %q, want %s %q", got, aws.ToString(out.Key), want, key)
		}
		if got := e.get(b, key); !bytes.Equal(got, whole) {
			t.Fatalf("completed NAR differs: %d bytes", len(got))
		}

		// Bytes that are not the NAR the name promises: the check fails
		// after the 200 went out, and the SDK reports the <Error> in it.
		bad := narKey([]byte("another NAR"))
		u = e.createUpload(t, b, bad)
		e1, e2 = u.part(1, p1), u.part(2, p2)
		_, err = u.complete(cp(1, e1), cp(2, e2))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
			t.Fatalf("completing a NAR under another's name: %v, want the InvalidArgument of a failed completion", err)
		}
		e.absent(b, bad)
		// The parts stay, as after any failed completion.
		if lp, err := e.s3.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &b, Key: &bad, UploadId: &u.id}); err != nil || len(lp.Parts) != 2 {
			t.Errorf("ListParts after the failed completion: %+v, %v", lp, err)
		}
	})

	t.Run("wire", func(t *testing.T) {
		complete := func(key string, etags ...string) (int, []byte) {
			u := e.createUpload(t, b, key)
			body := completeBody(etags...)
			u.part(1, p1)
			u.part(2, p2)
			r := e.request(http.MethodPost, e.url(b, key)+"?uploadId="+u.id, body)
			e.signBody(r, body)
			st, _, got := e.do(r)
			return st, got
		}
		e1, e2 := `"`+md5hex(p1)+`"`, `"`+md5hex(p2)+`"`
		st, body := complete(key, e1, e2)
		if st != http.StatusOK || !bytes.HasPrefix(body, []byte(xml.Header+" ")) {
			t.Fatalf("slow completion: %d %q, want 200 with the declaration and a space first", st, body)
		}
		var res struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			ETag    string
		}
		if err := xml.Unmarshal(body, &res); err != nil || res.ETag != multipartETag(p1, p2) {
			t.Errorf("slow completion's result %q: %v", body, err)
		}
		st, body = complete(narKey([]byte("yet another NAR")), e1, e2)
		var doc s3Error
		if st != http.StatusOK || xml.Unmarshal(body, &doc) != nil || doc.Code != "InvalidArgument" || !strings.Contains(doc.Message, "nar/") {
			t.Fatalf("failed slow completion: %d %q, want 200 with an InvalidArgument <Error> naming the key", st, body)
		}
	})

	t.Run("boto3", func(t *testing.T) {
		py := testenv.Need(t, "python3", "-c", "import boto3")
		script := filepath.Join(t.TempDir(), "slow_complete.py")
		if err := os.WriteFile(script, []byte(botoSlowComplete), 0o600); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(t.TempDir(), "nar")
		if err := os.WriteFile(src, whole, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, e.ts.URL, e.id, e.secret, b, key, narKey([]byte("a third NAR")), src)
		cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CA_BUNDLE=")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ALL PASSED") {
			t.Fatalf("boto3: %v\n%s", err, out)
		}
	})
}

// botoSlowComplete completes two multipart uploads with boto3: one onto
// the NAR's own name, which must succeed with S3's ETag, and one onto
// another NAR's name, which must raise the ClientError of the failed
// check.
const botoSlowComplete = `
import hashlib, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, ak, sk, bucket, good, bad, src = sys.argv[1:8]
c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                 region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
data = open(src, "rb").read()
parts = [data[:5 << 20], data[5 << 20:]]

def complete(key):
    up = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        etag = c.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=p)["ETag"]
        done.append({"PartNumber": i, "ETag": etag})
    return c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": done})

md5s = b"".join(hashlib.md5(p).digest() for p in parts)
want = '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(parts))
got = complete(good)["ETag"]
assert got == want, (got, want)
assert c.get_object(Bucket=bucket, Key=good)["Body"].read() == data
try:
    complete(bad)
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidArgument", e.response
else:
    sys.exit("completing a NAR under another's name succeeded")
print("ALL PASSED")
`
