package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// load is the outcome of a GET run, in wrk's terms.
type load struct {
	requests  int64 // GETs answered in full (a redirect and its target count once)
	bytes     int64 // body bytes read
	elapsed   time.Duration
	non2xx    int64 // final answers other than 2xx
	errors    int64 // transport errors and bodies of the wrong length
	redirects int64 // redirects followed
	firstErr  error
}

// getOptions configure runGets.
type getOptions struct {
	url      string
	conns    int
	duration time.Duration
	size     int64  // expected body length; -1: any
	auth     string // Authorization of the first request, never sent on to a redirect's target
}

// runGets has conns workers GET url in a loop, following redirects as Nix
// and curl -L do, until duration is over, and reads every body to the end.
func runGets(ctx context.Context, o getOptions) load {
	var (
		requests, bytes, non2xx, errs, redirects atomic.Int64
		errOnce                                  sync.Once
		firstErr                                 error
		wg                                       sync.WaitGroup
	)
	fail := func(err error) {
		errs.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: o.conns,
		DisableCompression:  true,
		ReadBufferSize:      128 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			// A presigned URL carries its own signature: a store refuses
			// a second one in an Authorization header.
			req.Header.Del("Authorization")
			redirects.Add(1)
			return nil
		},
	}
	deadline := time.Now().Add(o.duration)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Minute))
	defer cancel()
	buf := make([][]byte, o.conns)
	start := time.Now()
	for i := range o.conns {
		buf[i] = make([]byte, 256<<10)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
				if err != nil {
					fail(err)
					return
				}
				if o.auth != "" {
					req.Header.Set("Authorization", o.auth)
				}
				resp, err := client.Do(req)
				if err != nil {
					fail(err)
					continue
				}
				n, err := io.CopyBuffer(io.Discard, onlyReader{resp.Body}, buf[i])
				resp.Body.Close()
				bytes.Add(n)
				switch {
				case err != nil:
					fail(fmt.Errorf("read %s: %w", o.url, err))
				case resp.StatusCode/100 != 2:
					non2xx.Add(1)
					requests.Add(1)
				case o.size >= 0 && n != o.size:
					fail(fmt.Errorf("GET %s: %d bytes, want %d", o.url, n, o.size))
				default:
					requests.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return load{requests: requests.Load(), bytes: bytes.Load(), elapsed: time.Since(start),
		non2xx: non2xx.Load(), errors: errs.Load(), redirects: redirects.Load(), firstErr: firstErr}
}

// onlyReader hides a body's WriterTo, so io.CopyBuffer uses the given
// buffer rather than io.Discard's small pooled ones.
type onlyReader struct{ io.Reader }

func getCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	conns := fs.Int("c", 8, "concurrent GETs")
	duration := fs.Duration("d", 5*time.Second, "how long to run")
	size := fs.Int64("size", -1, "expected body length (-1: any)")
	auth := fs.String("auth", "", "Authorization header of the first request")
	fs.Parse(args)
	if fs.NArg() != 1 || *conns < 1 {
		return errors.New("get: give one URL and -c ≥ 1")
	}
	l := runGets(ctx, getOptions{url: fs.Arg(0), conns: *conns, duration: *duration, size: *size, auth: *auth})
	if l.firstErr != nil {
		fmt.Fprintln(os.Stderr, "scaletool: get: first error:", l.firstErr)
	}
	// The columns of paths.lua's line; transport errors go in "read".
	fmt.Printf("RESULT %d %d %d %d %d %d %d %d\n", l.requests, l.bytes, l.elapsed.Microseconds(), l.non2xx, 0, l.errors, 0, 0)
	fmt.Printf("REDIRECTS %d\n", l.redirects)
	return nil
}
