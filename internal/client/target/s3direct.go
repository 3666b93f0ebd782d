package target

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nixbucket/nixbucket/internal/client/spool"
)

// Direct PUTs. Through the SDK a request body goes through its stream
// wrappers, so net/http copies it through user space. For a single PUT to
// an explicit path-style endpoint (nixbucket, or any S3-compatible server)
// whose payload hash spool already knows, push signs the request with the
// SDK's signer and sends the spooled file itself, which net/http hands to
// sendfile(2). AWS proper, virtual-host addressing and multipart uploads
// keep the SDK.

// directPut is set up by openS3 when the endpoint allows it.
type directPut struct {
	base   string // endpoint URL up to the bucket, without a trailing slash
	creds  aws.CredentialsProvider
	signer *v4.Signer
	client *http.Client
}

func newDirectPut(endpoint, bucket string, creds aws.CredentialsProvider, stall time.Duration) *directPut {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64}
	wrapConns(tr, stall)
	return &directPut{
		base:   strings.TrimSuffix(endpoint, "/") + "/" + url.PathEscape(bucket),
		creds:  creds,
		signer: v4.NewSigner(),
		client: &http.Client{Transport: tr},
	}
}

// put sends f under key, signed with its known SHA-256, retried as every
// request of push is (withRetry, retryStatus).
func (d *directPut) put(ctx context.Context, region, key string, f *spool.File, sum [32]byte, m Meta) error {
	u := d.base + "/" + escapeKey(key)
	return withRetry(ctx, func() error { return d.try(ctx, region, u, f, sum, m) })
}

func (d *directPut) try(ctx context.Context, region, u string, f *spool.File, sum [32]byte, m Meta) error {
	body := f.Reader()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		body.Close()
		return err
	}
	req.ContentLength = f.Size()
	if f.Size() == 0 {
		req.Body = http.NoBody
	}
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("Content-Type", m.ContentType)
	if m.ContentEncoding != "" {
		req.Header.Set("Content-Encoding", m.ContentEncoding)
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return err
	}
	if err := d.signer.SignHTTP(ctx, creds, req, hash, "s3", region, time.Now().UTC()); err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := s3Error(resp); retryStatus(resp.StatusCode) {
		return retryable{err}
	} else {
		return err
	}
}

// s3Error turns an S3 error response into the SDK's error types, so the
// messages built by explain apply to direct PUTs too.
func s3Error(resp *http.Response) error {
	var doc struct {
		Code    string
		Message string
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	xml.Unmarshal(b, &doc)
	if doc.Code == "" {
		doc.Code = http.StatusText(resp.StatusCode)
	}
	return &smithy.OperationError{
		ServiceID: "S3", OperationName: "PutObject",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: &smithy.GenericAPIError{Code: doc.Code, Message: doc.Message}},
		},
	}
}

// escapeKey escapes a key for a URL path, keeping its slashes.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
