package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// memSample is what /proc/PID/status says about a process's memory, in bytes.
type memSample struct {
	rss, hwm int64
}

// readMem reads VmRSS and VmHWM of pid.
func readMem(pid int) (memSample, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memSample{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	var m memSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &m.rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &m.hwm
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return memSample{}, fmt.Errorf("parse %q of pid %d: %w", line, pid, err)
		}
		*dst = kb << 10
	}
	return m, sc.Err()
}

// sampler polls a process's memory every interval and keeps the peak VmRSS.
type sampler struct {
	pid      int
	peak     atomic.Int64
	lastHWM  atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	failures atomic.Int64
}

// startSampler begins polling pid; a pid of 0 yields a sampler that records nothing.
func startSampler(pid int, interval time.Duration) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if pid == 0 {
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	m, err := readMem(s.pid)
	if err != nil {
		s.failures.Add(1)
		return
	}
	if m.rss > s.peak.Load() {
		s.peak.Store(m.rss)
	}
	s.lastHWM.Store(m.hwm)
}

// Stop ends polling and returns the peak sampled VmRSS and the last VmHWM.
func (s *sampler) Stop() (peakRSS, hwm int64) {
	close(s.stop)
	<-s.done
	return s.peak.Load(), s.lastHWM.Load()
}

// resetHWM asks the kernel to reset VmHWM of pid to the current RSS
// (clear_refs value 5), so the high-water mark covers only what follows.
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssResult is the outcome of the concurrent large-PUT run against one server.
type rssResult struct {
	server     string
	clients    int
	size       int64
	elapsed    time.Duration
	okPuts     int
	errs       []error
	baseRSS    int64
	peakRSS    int64
	hwm        int64
	hwmIsReset bool
}

// runRSS has clients goroutines each PUT one object of size bytes, streamed
// from a patternReader with UNSIGNED-PAYLOAD, while sampling the server's memory.
func runRSS(ctx context.Context, srv *server, bucket string, clients int, size int64, timeout time.Duration, pat []byte) rssResult {
	res := rssResult{server: srv.name, clients: clients, size: size}
	if srv.pid != 0 {
		if m, err := readMem(srv.pid); err == nil {
			res.baseRSS = m.rss
		}
		res.hwmIsReset = resetHWM(srv.pid) == nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	smp := startSampler(srv.pid, 100*time.Millisecond)
	start := time.Now()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i := range clients {
		wg.Go(func() {
			body := newPatternReader(pat, size, int64(i)*104729)
			_, err := srv.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket:        aws.String(bucket),
				Key:           aws.String(fmt.Sprintf("rss/%02d", i)),
				Body:          body,
				ContentLength: aws.Int64(size),
			}, unsignedPayload)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errs = append(res.errs, fmt.Errorf("put rss/%02d: %w", i, err))
				return
			}
			res.okPuts++
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.peakRSS, res.hwm = smp.Stop()
	if srv.pid != 0 && smp.failures.Load() > 0 && res.peakRSS == 0 {
		res.errs = append(res.errs, errors.New("could not read server memory from /proc"))
	}
	keys := make([]string, clients)
	for i := range keys {
		keys[i] = fmt.Sprintf("rss/%02d", i)
	}
	deleteKeys(context.Background(), srv, bucket, keys, 16)
	return res
}

// report writes res as a few lines of markdown.
func (res rssResult) report() string {
	var b strings.Builder
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	total := float64(res.size) * float64(res.okPuts)
	fmt.Fprintf(&b, "| %s | %d × %s | %d/%d | %.1f s | %.0f | %s | %s | %s |\n",
		res.server, res.clients, formatSize(res.size), res.okPuts, res.clients,
		res.elapsed.Seconds(), total/1e6/res.elapsed.Seconds(),
		mib(res.baseRSS), mib(res.peakRSS), hwmText(res, mib))
	for _, err := range res.errs {
		log.Printf("%s: rss run: %v", res.server, err)
	}
	return b.String()
}

func hwmText(res rssResult, mib func(int64) string) string {
	if res.hwm == 0 {
		return "n/a"
	}
	if res.hwmIsReset {
		return mib(res.hwm)
	}
	return mib(res.hwm) + " (since start)"
}
