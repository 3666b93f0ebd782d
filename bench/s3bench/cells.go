package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// cell is one measured combination of operation, object size and concurrency.
type cell struct {
	op          string // "put" or "get"
	size        int64
	concurrency int
}

// limits bound a cell both in time and in operations.
type limits struct {
	duration time.Duration
	maxOps   int64
	maxBytes int64
}

// opCap returns the most operations a cell of size may run: at most maxOps,
// at most maxBytes in total, but never fewer than two per worker.
func (l limits) opCap(c cell) int64 {
	n := l.maxOps
	if byBytes := l.maxBytes / c.size; byBytes < n {
		n = byBytes
	}
	if floor := int64(2 * c.concurrency); n < floor {
		n = floor
	}
	return n
}

// result is what one server achieved in one cell.
type result struct {
	ops      int64
	errs     int64
	firstErr error
	elapsed  time.Duration
	putKeys  []string
}

func (r result) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// getKeys is how many distinct objects of each size GET cells read, round robin.
const getKeys = 16

func getKey(size int64, i int64) string {
	return fmt.Sprintf("get/%s/%02d", formatSize(size), i%getKeys)
}

// payloads holds one random, read-only buffer per size, shared by all
// requests; every request wraps it in its own bytes.Reader.
type payloads map[int64][]byte

func newPayloads(sizes []int64, pat []byte) payloads {
	p := payloads{}
	for _, s := range sizes {
		b := make([]byte, s)
		if _, err := io.ReadFull(newPatternReader(pat, s, s), b); err != nil {
			panic(err) // cannot happen: the pattern reader yields exactly s bytes
		}
		p[s] = b
	}
	return p
}

// runCell runs c against srv until the time or operation budget is spent.
// PUTs write fresh keys (tagged with tag); GETs read the preloaded objects
// and discard the bodies.
func runCell(ctx context.Context, srv *server, bucket string, c cell, lim limits, p payloads, tag string, unsigned bool) result {
	limit := lim.opCap(c)
	var (
		next, done, errs atomic.Int64
		errOnce          sync.Once
		firstErr         error
		keysMu           sync.Mutex
		keys             []string
		wg               sync.WaitGroup
	)
	payload := p[c.size]
	var putOpts []func(*s3.Options)
	if unsigned {
		putOpts = append(putOpts, unsignedPayload)
	}
	deadline := time.Now().Add(lim.duration)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(2*time.Minute))
	defer cancel()
	start := time.Now()
	for range c.concurrency {
		wg.Go(func() {
			var mine []string
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= limit {
					break
				}
				var err error
				switch c.op {
				case "put":
					key := fmt.Sprintf("put/%s/%s/c%d/%08d", tag, formatSize(c.size), c.concurrency, i)
					_, err = srv.client.PutObject(ctx, &s3.PutObjectInput{
						Bucket:        aws.String(bucket),
						Key:           aws.String(key),
						Body:          bytes.NewReader(payload),
						ContentLength: aws.Int64(c.size),
					}, putOpts...)
					mine = append(mine, key)
				case "get":
					err = getDiscard(ctx, srv, bucket, getKey(c.size, i), c.size)
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				done.Add(1)
			}
			keysMu.Lock()
			keys = append(keys, mine...)
			keysMu.Unlock()
		})
	}
	wg.Wait()
	return result{ops: done.Load(), errs: errs.Load(), firstErr: firstErr, elapsed: time.Since(start), putKeys: keys}
}

// getDiscard GETs key, drains the body and checks its length.
func getDiscard(ctx context.Context, srv *server, bucket, key string, size int64) error {
	out, err := srv.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("get %s: read %d bytes, want %d", key, n, size)
	}
	return nil
}

// preload writes the objects GET cells read.
func preload(ctx context.Context, srv *server, bucket string, sizes []int64, p payloads) error {
	for _, s := range sizes {
		errc := make(chan error, getKeys)
		for i := range int64(getKeys) {
			go func() {
				_, err := srv.client.PutObject(ctx, &s3.PutObjectInput{
					Bucket:        aws.String(bucket),
					Key:           aws.String(getKey(s, i)),
					Body:          bytes.NewReader(p[s]),
					ContentLength: aws.Int64(s),
				})
				errc <- err
			}()
		}
		for range getKeys {
			if err := <-errc; err != nil {
				return fmt.Errorf("preload %s objects on %s: %w", formatSize(s), srv.name, err)
			}
		}
	}
	return nil
}

// deleteKeys removes keys with workers parallel DeleteObject calls; failures
// only cost disk space in a temporary directory, so they are counted, not fatal.
func deleteKeys(ctx context.Context, srv *server, bucket string, keys []string, workers int) (failed int64) {
	var (
		next atomic.Int64
		bad  atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(keys)) {
					return
				}
				if _, err := srv.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i])}); err != nil {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return bad.Load()
}
