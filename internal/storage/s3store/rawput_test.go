package s3store

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// flipCreds gives the store's credentials, or an unknown key once
// flipped (not only a wrong secret: SigV4 signers keep the keys they
// derived from a secret by access key); they expire at once, so the SDK's
// cache asks every time.
type flipCreds struct {
	st    *testenv.S3
	wrong atomic.Bool
}

func (c *flipCreds) Retrieve(context.Context) (aws.Credentials, error) {
	key := c.st.AccessKey
	if c.wrong.Load() {
		key = "UNKNOWN" + key
	}
	return aws.Credentials{AccessKeyID: key, SecretAccessKey: c.st.SecretKey, CanExpire: true, Expires: time.Now()}, nil
}

// TestRawPut: a PutObject to a plain http store goes by hand (the store
// sees nixbucket's own request, not the SDK's) under a prefix that needs
// escaping, and stores exactly the bytes; a connection the store closed
// while it was idle is not used for the next PUT; a refusal is the
// store's status and code, not an unreachable store.
func TestRawPut(t *testing.T) {
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	target, err := url.Parse(st.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var agents []string
	var conns atomic.Int64
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			agents = append(agents, r.UserAgent())
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	front.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	front.Start()
	defer front.Close()
	creds := &flipCreds{st: st}
	b, err := Open(t.Context(), Config{
		Bucket: bucket, Prefix: "a b+c/", Endpoint: front.URL, Region: st.Region, PathStyle: true, PartSize: testPartSize,
	}, Options{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) (string, error) {
		w, err := b.CreateSized(t.Context(), int64(len(data)))
		if err != nil {
			return "", err
		}
		for p := data; len(p) > 0; {
			n := min(len(p), 100<<10)
			if _, err := w.Write(p[:n]); err != nil {
				w.Abort()
				return "", err
			}
			p = p[n:]
		}
		return w.Commit(t.Context())
	}
	check := func(id string, data []byte) {
		t.Helper()
		bl, err := b.Open(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		defer bl.Close()
		got := make([]byte, bl.Size())
		if _, err := bl.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
		}
	}
	data := make([]byte, 1<<20+7)
	rand.New(rand.NewSource(2)).Read(data)
	id, err := put(data)
	if err != nil {
		t.Fatal(err)
	}
	check(id, data)
	mu.Lock()
	if len(agents) == 0 || agents[len(agents)-1] != "nixbucket" {
		t.Errorf("the PUTs' user agents %q: want the last sent by hand (nixbucket)", agents)
	}
	mu.Unlock()

	// The store closes the idle connection; the next PUT takes a new one.
	front.CloseClientConnections()
	before := conns.Load()
	id2, err := put(data[:4096])
	if err != nil {
		t.Fatalf("a PUT after the store closed the idle connection: %v", err)
	}
	check(id2, data[:4096])
	if conns.Load() == before {
		t.Error("the PUT after the store closed its idle connection did not connect afresh")
	}

	// Straight to the store (a proxy in between answers the cut body
	// itself, 502), whose 403 comes before it read the body.
	creds.wrong.Store(false)
	direct, err := Open(t.Context(), Config{
		Bucket: bucket, Endpoint: st.Endpoint, Region: st.Region, PathStyle: true, PartSize: testPartSize,
	}, Options{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	b = direct
	creds.wrong.Store(true)
	_, err = put(data)
	if err == nil {
		t.Fatal("a PUT with an unknown access key succeeded")
	}
	// (versitygw: 404 XAdminUserNotFound; AWS: 403 InvalidAccessKeyId.)
	var ae smithy.APIError
	if code := status(err); code/100 != 4 || b.Unreachable(err) || !errors.As(err, &ae) || ae.ErrorCode() == "" {
		t.Errorf("a PUT with an unknown access key: %v (status %d, unreachable %v), want the store's refusal with its code", err, code, b.Unreachable(err))
	}
}
