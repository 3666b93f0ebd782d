package observe

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// AccessLog writes access log lines without ever making a request wait
// for the output: a request formats its line into a pooled buffer and
// appends it to a LogQueue, which drops and counts it when full.
type AccessLog struct {
	q    *LogQueue
	own  bool // q is the access log's own, closed by Close
	json bool
}

// lineBuf is one formatted line.
type lineBuf struct{ b []byte }

var linePool = sync.Pool{New: func() any { return &lineBuf{b: make([]byte, 0, 512)} }}

// NewAccessLog starts an access log writing to out in slog's text format,
// or its JSON format when json is set. When out is a LogQueue (the one
// the server's other lines go through), the lines join it, and its drops
// are the access log's; else the access log queues its lines itself and
// reports its drops on log, at most every dropReport. Close stops it.
func NewAccessLog(out io.Writer, json bool, log *slog.Logger) *AccessLog {
	if q, ok := out.(*LogQueue); ok {
		return &AccessLog{q: q, json: json}
	}
	if log == nil {
		log = slog.Default()
	}
	q := NewLogQueue(out)
	q.ReportTo(log, "access log lines")
	return &AccessLog{q: q, own: true, json: json}
}

// Dropped is the number of lines dropped so far.
func (a *AccessLog) Dropped() uint64 { return a.q.Dropped() }

// Log queues e's line; it never waits for the output.
func (a *AccessLog) Log(e *Entry) {
	lb := linePool.Get().(*lineBuf)
	if a.json {
		lb.b = e.appendJSON(lb.b[:0])
	} else {
		lb.b = e.appendText(lb.b[:0])
	}
	a.q.add(lb.b)
	recycle(lb)
}

// recycle returns a line's buffer to the pool, unless a long line grew
// it (kept, it would pin the memory).
func recycle(lb *lineBuf) {
	if cap(lb.b) <= 4<<10 {
		linePool.Put(lb)
	}
}

// Close writes out the lines queued and stops the writer, when the queue
// is the access log's own (else its owner closes it). Lines logged after
// Close are dropped. If the output blocks, Close gives up when ctx ends.
func (a *AccessLog) Close(ctx context.Context) error {
	if !a.own {
		return nil
	}
	return a.q.Close(ctx)
}
