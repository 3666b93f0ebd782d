package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

const (
	testAK     = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// testTime is the signing time of most tests; verifiers run at the same
// instant unless a test moves their clock.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testLookup(keys map[string]string) Lookup {
	return func(_ context.Context, ak string) (string, error) {
		if s, ok := keys[ak]; ok {
			return s, nil
		}
		return "", fmt.Errorf("key %q: %w", ak, ErrUnknownKey)
	}
}

// newTestVerifier returns a verifier that knows testAK and whose clock reads
// now.
func newTestVerifier(now time.Time) *Verifier {
	return &Verifier{
		Lookup: testLookup(map[string]string{testAK: testSecret, "other": "other-secret"}),
		Now:    func() time.Time { return now },
	}
}

// wantCode fails unless err is an *Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
}

// refSigningKey derives the SigV4 key with crypto/hmac, independently of the
// package's own HMAC.
func refSigningKey(secret, date, region string) []byte {
	k := refHMAC([]byte("AWS4"+secret), date)
	k = refHMAC(k, region)
	k = refHMAC(k, "s3")
	return refHMAC(k, "aws4_request")
}

func refHMAC(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chunkSigner produces aws-chunked bodies the way SDKs do, with crypto/hmac.
type chunkSigner struct {
	key     []byte // nil: unsigned chunks
	amzDate string
	scope   string
	prev    string // hex signature of the previous chunk (seed first)
}

func (s *chunkSigner) sign(data []byte) string {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" +
		emptySHA256 + "\n" + sha256Hex(data)
	s.prev = hex.EncodeToString(refHMAC(s.key, sts))
	return s.prev
}

func (s *chunkSigner) signTrailer(canon string) string {
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" +
		sha256Hex([]byte(canon))
	s.prev = hex.EncodeToString(refHMAC(s.key, sts))
	return s.prev
}

// encodeOpts shapes an aws-chunked body.
type encodeOpts struct {
	sizes       []int       // chunk sizes; the last repeats until data runs out
	trailers    [][2]string // name, value
	minioQuirk  bool        // minio-go: trailer lines end in "\n", a blank line before the signature
	noFinalCRLF bool        // omit the closing blank line
}

// encodeChunked is the test encoder for signed (s.key != nil) and unsigned
// aws-chunked bodies, with optional trailers.
func encodeChunked(data []byte, s *chunkSigner, o encodeOpts) []byte {
	var b bytes.Buffer
	header := func(n int, chunk []byte) {
		fmt.Fprintf(&b, "%x", n)
		if s != nil && s.key != nil {
			b.WriteString(";chunk-signature=" + s.sign(chunk))
		}
		b.WriteString("\r\n")
	}
	for i := 0; len(data) > 0; i++ {
		n := o.sizes[min(i, len(o.sizes)-1)]
		n = min(n, len(data))
		header(n, data[:n])
		b.Write(data[:n])
		b.WriteString("\r\n")
		data = data[n:]
	}
	header(0, nil)
	eol := "\r\n"
	if o.minioQuirk {
		eol = "\n"
	}
	var canon strings.Builder
	for _, kv := range o.trailers {
		b.WriteString(kv[0] + ":" + kv[1] + eol)
		canon.WriteString(strings.ToLower(kv[0]) + ":" + kv[1] + "\n")
	}
	if s != nil && s.key != nil && len(o.trailers) > 0 {
		if o.minioQuirk {
			b.WriteString("\r\n")
		}
		b.WriteString("x-amz-trailer-signature:" + s.signTrailer(canon.String()) + "\r\n")
	}
	if !o.noFinalCRLF {
		b.WriteString("\r\n")
		if o.minioQuirk && (s == nil || s.key == nil) {
			b.WriteString("\r\n")
		}
	}
	return b.Bytes()
}

// needTool returns the path of an external program, skipping the test when
// it is missing (failing in CI).
func needTool(t *testing.T, name string, check ...string) string {
	t.Helper()
	return testenv.Need(t, name, check...)
}

// mustRequest builds a server-side style request.
func mustRequest(t *testing.T, method, target string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// verdict is what verifyServer reports about one request.
type verdict struct {
	Code          string      `json:"code,omitempty"`
	Message       string      `json:"message,omitempty"`
	AccessKey     string      `json:"accessKey,omitempty"`
	Anonymous     bool        `json:"anonymous,omitempty"`
	Version       int         `json:"version,omitempty"`
	DecodedLength int64       `json:"decodedLength"`
	PayloadSHA256 string      `json:"payloadSHA256,omitempty"`
	BodyLen       int64       `json:"bodyLen"`
	BodySHA256    string      `json:"bodySHA256,omitempty"`
	Trailer       http.Header `json:"trailer,omitempty"`
	Method        string      `json:"method"`
	Mode          string      `json:"mode,omitempty"` // x-amz-content-sha256 as sent (hashes shortened to "sha256")
}

// verifyHandler runs Verify, reads the whole Body and reports a verdict as
// JSON in the X-Verdict header (status 200 either way, so clients never
// retry). It answers with an ETag of the body's MD5 so S3 clients are
// satisfied.
func verifyHandler(v *Verifier, report func(verdict)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := verdict{Method: r.Method, Mode: r.Header.Get("X-Amz-Content-Sha256")}
		if len(out.Mode) == 64 {
			out.Mode = "sha256"
		}
		res, err := v.Verify(r)
		if err == nil {
			out.AccessKey, out.Anonymous, out.Version = res.AccessKeyID, res.Anonymous, res.Version
			out.DecodedLength = res.DecodedLength
			out.PayloadSHA256 = hex.EncodeToString(res.PayloadSHA256)
			h, m := sha256.New(), md5.New()
			out.BodyLen, err = io.Copy(io.MultiWriter(h, m), res.Body)
			out.BodySHA256 = hex.EncodeToString(h.Sum(nil))
			w.Header().Set("ETag", `"`+hex.EncodeToString(m.Sum(nil))+`"`)
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			if err == nil && res.Trailer != nil {
				out.Trailer = res.Trailer()
			}
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				out.Code, out.Message = e.Code, e.Message
			} else {
				out.Code, out.Message = "Internal", err.Error()
			}
		}
		if report != nil {
			report(out)
		}
		// The verdict travels in a header: botocore turns a 200 whose body is
		// not XML into a retried 500.
		js, _ := json.Marshal(out)
		w.Header().Set("X-Verdict", string(js))
		w.Header().Set("Content-Length", "0")
	})
}

// roundTrip sends req and decodes the verdict.
func roundTrip(t *testing.T, req *http.Request) verdict {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	var out verdict
	if err := json.Unmarshal([]byte(resp.Header.Get("X-Verdict")), &out); err != nil {
		t.Fatalf("decode verdict: %v", err)
	}
	return out
}
