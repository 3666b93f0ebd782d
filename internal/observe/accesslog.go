package observe

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// The queue's bound and the writer's pace.
const (
	// queueBytes bounds the lines waiting to be written: 4 MiB is some
	// 13,000 lines, a second or more of a busy server's requests.
	queueBytes = 4 << 20
	// gather is how long the writer lets lines gather after the first
	// of a batch: under load it wakes some 50 times a second, not once
	// per request, and writes each batch with one Write.
	gather = 20 * time.Millisecond
	// batchStart is the first size of the two batch buffers (the one
	// gathering, the one being written), which grow to what a batch
	// needs and are reused.
	batchStart = 256 << 10
	// dropReport is how often, at most, the log says how many lines
	// were dropped.
	dropReport = 10 * time.Second
)

// AccessLog writes access log lines without ever making a request wait
// for the output: a request formats its line into a pooled buffer and
// appends it to a bounded queue (the batch being gathered); one goroutine
// swaps the batch out and writes it. When the queue is full (the output
// is slower than the requests: a slow disk, a blocked pipe) the line is
// dropped and counted.
//
// The queue is a byte buffer under a mutex held for a copy, rather than
// a channel of lines: a channel wakes the writer for every line, which
// cost as much as the rest of a narinfo request (BenchmarkGETSmallHitLogged).
type AccessLog struct {
	out     io.Writer
	json    bool
	log     *slog.Logger // where dropped lines are reported
	dropped atomic.Uint64

	mu      sync.Mutex
	pending []byte // the batch being gathered; at most queueBytes
	closed  bool

	wake chan struct{} // cap 1: the batch became non-empty
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// lineBuf is one formatted line.
type lineBuf struct{ b []byte }

var linePool = sync.Pool{New: func() any { return &lineBuf{b: make([]byte, 0, 512)} }}

// NewAccessLog starts an access log writing to out in slog's text format,
// or its JSON format when json is set. Drops are reported on log, at most
// every dropReport. Close stops it.
func NewAccessLog(out io.Writer, json bool, log *slog.Logger) *AccessLog {
	if log == nil {
		log = slog.Default()
	}
	a := &AccessLog{out: out, json: json, log: log, pending: make([]byte, 0, batchStart),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// Dropped is the number of lines dropped so far.
func (a *AccessLog) Dropped() uint64 { return a.dropped.Load() }

// Log queues e's line; it never waits for the output.
func (a *AccessLog) Log(e *Entry) {
	lb := linePool.Get().(*lineBuf)
	if a.json {
		lb.b = e.appendJSON(lb.b[:0])
	} else {
		lb.b = e.appendText(lb.b[:0])
	}
	a.mu.Lock()
	if a.closed || len(a.pending)+len(lb.b) > queueBytes {
		a.mu.Unlock()
		a.dropped.Add(1)
		recycle(lb)
		return
	}
	first := len(a.pending) == 0
	a.pending = append(a.pending, lb.b...)
	a.mu.Unlock()
	recycle(lb)
	if first {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// run writes the batches out until Close.
func (a *AccessLog) run() {
	defer close(a.done)
	spare := make([]byte, 0, batchStart)
	var d drops
	timer := time.NewTimer(gather)
	timer.Stop()
	for {
		select {
		case <-a.wake:
		case <-a.stop:
			a.flush(spare)
			d.report(a, true)
			return
		}
		timer.Reset(gather)
		select {
		case <-timer.C:
		case <-a.stop:
			timer.Stop()
			a.flush(spare)
			d.report(a, true)
			return
		}
		spare = a.flush(spare)
		d.report(a, false)
	}
}

// drops is what the writer has said of the dropped lines.
type drops struct {
	reported uint64
	last     time.Time
}

// report logs the lines dropped since the last report, at most every
// dropReport unless final (at Close).
func (d *drops) report(a *AccessLog, final bool) {
	n := a.dropped.Load()
	if n == d.reported || !final && time.Since(d.last) < dropReport {
		return
	}
	a.log.Warn("access log lines dropped: the log output is slower than the requests", "dropped", n-d.reported, "total", n)
	d.reported, d.last = n, time.Now()
}

// flush swaps the batch for spare (emptied) and writes it; it returns the
// written buffer, the next spare.
func (a *AccessLog) flush(spare []byte) []byte {
	a.mu.Lock()
	batch := a.pending
	a.pending = spare[:0]
	a.mu.Unlock()
	if len(batch) > 0 {
		a.out.Write(batch)
	}
	return batch
}

// recycle returns a line's buffer to the pool, unless a long line grew
// it (kept, it would pin the memory).
func recycle(lb *lineBuf) {
	if cap(lb.b) <= 4<<10 {
		linePool.Put(lb)
	}
}

// Close writes out the lines queued and stops the writer. Lines logged
// after Close are dropped. If the output blocks, Close gives up when ctx
// ends.
func (a *AccessLog) Close(ctx context.Context) error {
	a.once.Do(func() {
		close(a.stop)
	})
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return nil
}
