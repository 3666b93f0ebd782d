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
	// 13,000 access log lines, a second or more of a busy server's
	// requests.
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

// LogQueue is a log output that never makes its callers wait: Write
// appends whole lines to a bounded queue (the batch being gathered), and
// one goroutine swaps the batch out and writes it to the real output.
// When the queue is full (the output is slower than the lines: a slow
// disk, a pipe nobody reads) the lines are dropped and counted.
//
// The server's logger writes through one, not only the access log: a
// line logged on a request's path (a failed authentication, an error)
// must not hang the request, nor a stop, behind a blocked stderr.
//
// The queue is a byte buffer under a mutex held for a copy, rather than
// a channel of lines: a channel wakes the writer for every line, which
// cost as much as the rest of a narinfo request (BenchmarkGETSmallHitLogged).
type LogQueue struct {
	out     io.Writer
	dropped atomic.Uint64
	// Report, when set before the first Write, is told of the lines
	// dropped since its last call (n) and in all (total), at most every
	// dropReport and once more at Close. It runs on the writer's
	// goroutine, and may write into the queue.
	Report func(n, total uint64)

	mu      sync.Mutex
	pending []byte // the batch being gathered; at most queueBytes
	closed  bool

	wake chan struct{} // cap 1: the batch became non-empty
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewLogQueue starts a queue writing to out. Close stops it.
func NewLogQueue(out io.Writer) *LogQueue {
	q := &LogQueue{out: out, pending: make([]byte, 0, batchStart),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// ReportTo makes q report its drops as a warning on log.
func (q *LogQueue) ReportTo(log *slog.Logger, what string) {
	q.Report = func(n, total uint64) {
		log.Warn(what+" dropped: the log output is slower than the lines", "dropped", n, "total", total)
	}
}

// Write queues p, which should be whole lines (slog's handlers write one
// record per call), or drops it when the queue is full or closed. It never
// waits for the output and never fails.
func (q *LogQueue) Write(p []byte) (int, error) {
	q.add(p)
	return len(p), nil
}

// add queues b, or drops and counts it; it reports whether b was queued.
func (q *LogQueue) add(b []byte) bool {
	q.mu.Lock()
	if q.closed || len(q.pending)+len(b) > queueBytes {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	first := len(q.pending) == 0
	q.pending = append(q.pending, b...)
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Dropped is the number of lines (Writes) dropped so far.
func (q *LogQueue) Dropped() uint64 { return q.dropped.Load() }

// run writes the batches out until Close.
func (q *LogQueue) run() {
	defer close(q.done)
	spare := make([]byte, 0, batchStart)
	var d drops
	timer := time.NewTimer(gather)
	timer.Stop()
	for {
		select {
		case <-q.wake:
		case <-q.stop:
			q.final(spare, &d)
			return
		}
		timer.Reset(gather)
		select {
		case <-timer.C:
		case <-q.stop:
			timer.Stop()
			q.final(spare, &d)
			return
		}
		spare = q.flush(spare)
		d.report(q, false)
	}
}

// final writes out what is queued, reports the drops, and writes out
// that report too.
func (q *LogQueue) final(spare []byte, d *drops) {
	spare = q.flush(spare)
	d.report(q, true)
	q.flush(spare)
}

// drops is what the writer has said of the dropped lines.
type drops struct {
	reported uint64
	last     time.Time
}

// report tells q.Report of the lines dropped since the last report, at
// most every dropReport unless final (at Close).
func (d *drops) report(q *LogQueue, final bool) {
	n := q.dropped.Load()
	if q.Report == nil || n == d.reported || !final && time.Since(d.last) < dropReport {
		return
	}
	q.Report(n-d.reported, n)
	d.reported, d.last = n, time.Now()
}

// flush swaps the batch for spare (emptied) and writes it; it returns the
// written buffer, the next spare.
func (q *LogQueue) flush(spare []byte) []byte {
	q.mu.Lock()
	batch := q.pending
	q.pending = spare[:0]
	q.mu.Unlock()
	if len(batch) > 0 {
		q.out.Write(batch)
	}
	return batch
}

// Close writes out the lines queued and stops the writer. Lines written
// after Close are dropped. If the output blocks, Close gives up when ctx
// ends.
func (q *LogQueue) Close(ctx context.Context) error {
	q.once.Do(func() {
		close(q.stop)
	})
	select {
	case <-q.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	return nil
}
