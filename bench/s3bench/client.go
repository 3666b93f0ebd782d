package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// server is one S3 endpoint under test and the client that drives it.
type server struct {
	name     string
	endpoint string
	pid      int
	cpu      []cpuProc // charged per operation (-a-cpu, -b-cpu)
	client   *s3.Client
	wire     *wireLog
}

// clientOptions are the SDK settings shared by both servers, so that any
// client-side cost is identical for each.
type clientOptions struct {
	region   string
	checksum string // "when_required" or "when_supported"
	verbose  bool
}

// newServer builds an S3 client for endpoint with static credentials,
// path-style addressing, no retries and a transport sized for 16+ parallel
// keep-alive connections.
func newServer(ctx context.Context, name, endpoint, access, secret string, pid int, o clientOptions) (*server, error) {
	// aws-sdk-go-v2 refuses a custom http.Client when AWS_CA_BUNDLE is set.
	os.Unsetenv("AWS_CA_BUNDLE")

	wire := &wireLog{server: name, verbose: o.verbose, seen: map[string]bool{}}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       128 << 10,
		ReadBufferSize:        128 << 10,
	}
	wire.next = tr
	hc := &http.Client{Transport: wire}

	reqCk := aws.RequestChecksumCalculationWhenRequired
	respCk := aws.ResponseChecksumValidationWhenRequired
	switch o.checksum {
	case "when_required":
	case "when_supported":
		reqCk = aws.RequestChecksumCalculationWhenSupported
		respCk = aws.ResponseChecksumValidationWhenSupported
	default:
		return nil, fmt.Errorf("unknown -checksum mode %q", o.checksum)
	}

	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRegion(o.region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(access, secret, "")),
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithRequestChecksumCalculation(reqCk),
		config.WithResponseChecksumValidation(respCk),
	)
	if err != nil {
		return nil, fmt.Errorf("load aws config for %s: %w", name, err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.BaseEndpoint = aws.String(endpoint)
		so.UsePathStyle = true
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	return &server{name: name, endpoint: endpoint, pid: pid, client: client, wire: wire}, nil
}

// unsignedPayload makes a PutObject send x-amz-content-sha256: UNSIGNED-PAYLOAD
// instead of hashing the body before sending it.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(st)
	})
}

// wireLog is an http.RoundTripper that records the headers of the first
// request per operation, so the report can say what the SDK actually sent.
type wireLog struct {
	next    http.RoundTripper
	server  string
	verbose bool

	mu    sync.Mutex
	seen  map[string]bool
	first map[string]string // operation → summary of payload-related headers
}

// RoundTrip implements http.RoundTripper.
func (w *wireLog) RoundTrip(req *http.Request) (*http.Response, error) {
	// The SDK names the operation in the x-id query parameter.
	key := req.URL.Query().Get("x-id")
	if key == "" {
		key = req.Method + " " + req.URL.Path
	}
	if key == "PutObject" && req.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
		key = "PutObject-unsigned"
	}
	w.mu.Lock()
	firstTime := !w.seen[key]
	w.seen[key] = true
	if firstTime && strings.HasPrefix(key, "PutObject") {
		if w.first == nil {
			w.first = map[string]string{}
		}
		w.first[key] = payloadSummary(req)
	}
	w.mu.Unlock()
	if firstTime && w.verbose {
		log.Printf("%s: first %s request:\n%s", w.server, key, dumpHeaders(req))
	}
	resp, err := w.next.RoundTrip(req)
	if firstTime && w.verbose && err == nil {
		log.Printf("%s: first %s response: %s (Content-Length %d)", w.server, key, resp.Status, resp.ContentLength)
	}
	return resp, err
}

// payloadSummary names the payload signing and checksum headers of req.
func payloadSummary(req *http.Request) string {
	var parts []string
	sha := req.Header.Get("X-Amz-Content-Sha256")
	switch {
	case sha == "":
	case len(sha) == 64:
		parts = append(parts, "x-amz-content-sha256=<hex sha256 of body>")
	default:
		parts = append(parts, "x-amz-content-sha256="+sha)
	}
	for k := range req.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-checksum") || strings.HasPrefix(lk, "x-amz-sdk-checksum") ||
			lk == "content-md5" || lk == "x-amz-trailer" || lk == "content-encoding" || lk == "expect" {
			parts = append(parts, lk+"="+req.Header.Get(k))
		}
	}
	if req.ContentLength >= 0 {
		parts = append(parts, fmt.Sprintf("content-length=%d", req.ContentLength))
	}
	sort.Strings(parts[min(1, len(parts)):])
	return strings.Join(parts, ", ")
}

// dumpHeaders renders the request line and headers, with the signature redacted.
func dumpHeaders(req *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s %s (ContentLength %d)\n", req.Method, req.URL.RequestURI(), req.ContentLength)
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.Join(req.Header[k], ", ")
		if k == "Authorization" {
			if i := strings.Index(v, "Signature="); i >= 0 {
				v = v[:i] + "Signature=<redacted>"
			}
		}
		fmt.Fprintf(&b, "  %s: %s\n", k, v)
	}
	return b.String()
}

// firstHeaders returns the recorded payload summary of the first request of
// op ("PutObject" or "PutObject-unsigned"), or "".
func (w *wireLog) firstHeaders(op string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first[op]
}
