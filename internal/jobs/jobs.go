// Package jobs runs the server's background jobs that scan or change the
// whole store, on one node at a time.
//
// # The jobs
//
// With several servers on one metadata store (PostgreSQL) and one blob
// store (S3), these jobs would do the same work on every node, and race
// each other for it:
//
//   - "gc": the scheduled garbage collection of buckets with gc=on
//     (serve --gc-interval, internal/lifecycle/gc);
//   - "lifecycle": the lifecycle rules' sweep (serve --lifecycle-interval,
//     internal/lifecycle): aborting abandoned multipart uploads, S3
//     Expiration;
//   - "sweep": sweeping a shared blob store (serve --sweep-interval) of
//     what dead writers left: unfinished multipart uploads of blobs, and
//     blobs committed but never referenced (a node died between a blob's
//     commit and its metadata transaction, or before deleting the blobs a
//     transaction freed, the parts of an aborted upload among them).
//
// Each runs on the node holding its job lock (meta.JobLocks): on
// PostgreSQL a session-level advisory lock on a connection of its own,
// which PostgreSQL frees when the holder's session ends, so a node that
// dies hands its jobs on; on SQLite a file lock beside the database. A
// Runner tries the lock every interval; the node that gets it keeps it
// and runs the job every interval until it stops or loses the lock; the
// others keep trying, each interval, and one of them takes over within an
// interval of the holder's death. A job runs at each tick at which its
// node holds (or has just taken) the lock, so the first run comes one
// interval after the start, and a takeover runs at once.
//
// A lease can be lost while its job runs (the session dropped): the run's
// context is then cancelled, and another node may start the job before
// this one has stopped. Each job is a series of short transactions that
// recheck what they change (an abort finds the upload gone, an expiry or
// a GC delete checks the object it read, the sweep asks the store which
// blobs are referenced just before deleting them), so such an overlap
// costs repeated work, never a wrong delete.
//
// # The sweep of a shared blob store
//
// Blobs are written to the blob store first, committed (durable), and
// only then referenced by one metadata transaction (internal/objects);
// a crash in between leaves an unreferenced blob, and deletes of blobs
// the metadata freed happen after its transaction. On a blob store only
// this server uses (localfs in its data directory) the server sweeps at
// start: every unreferenced blob is garbage, since no one else writes
// there (admin commands that do hold the data directory's sweep lock).
// On a shared one (S3), other nodes are writing at any moment, so the
// "sweep" job removes only what is older than a grace period (a day:
// sweepGrace in internal/server) and unreferenced: objects.Service.Sweep
// walks the store, keeps blobs committed after the cutoff, asks the
// metadata store which of the rest any object or upload part refers to
// (meta.Store.Referenced, one query per batch), and deletes the others;
// s3store.SweepUploads aborts the store's multipart uploads of blobs
// begun before the cutoff. A node still writing a blob is at most
// seconds to hours from its metadata commit, well inside the grace
// period: a blob younger than that is never swept, and neither is one
// that is referenced.
//
// # What needs no lock
//
// The batched last-access times of narinfos (binarycache.Service.Touch,
// written out every binarycache.TouchInterval) are per node: each node
// records the reads it served and writes its own batch, one short
// transaction per bucket setting the time of the hashes it saw. Nodes
// flushing at once touch different reads, and each write is idempotent,
// so there is nothing to exclude; a lock would only delay the other
// nodes' batches. Two nodes flushing the same hash may leave the earlier
// of their times, by at most a flush interval, which does not matter to
// retention counted in days. A collection flushes its own node's batch
// first; reads served by other nodes within the last flush interval are
// not yet written, which matters only for a path unread for keep-days
// that is read at the moment of the collection.
//
// The disk-space watch (diskspace.Guard) is per node too: it watches the
// node's own data directory.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Job is a background job.
type Job struct {
	// Name is its lock's name (meta.CheckJobName).
	Name string
	// Every is the time between runs, and between tries of the lock.
	Every time.Duration
	// Run does the work once. Its context ends when the Runner's does, or
	// when the node loses the job's lock.
	Run func(ctx context.Context) error
}

// Runner runs jobs under the store's job locks.
type Runner struct {
	Locks meta.JobLocks
	Log   *slog.Logger
	// Held, when set, is told whether this node holds a job's lock: false
	// when Run starts, true when it takes the lock, false when it loses
	// it or stops (the metric nixbucket_job_lock_held, by which an
	// operator sees which node runs what).
	Held func(job string, held bool)
}

func (r *Runner) held(job string, held bool) {
	if r.Held != nil {
		r.Held(job, held)
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Run runs job every job.Every while this node holds its lock, and tries
// to take the lock every job.Every while it does not, until ctx ends; it
// then releases the lock. It does nothing when job.Every is not positive.
func (r *Runner) Run(ctx context.Context, job Job) {
	if job.Every <= 0 {
		return
	}
	log := r.log().With("job", job.Name)
	var lease meta.Lease
	r.held(job.Name, false)
	defer func() {
		if lease != nil {
			lease.Release()
		}
		r.held(job.Name, false)
	}()
	tick := time.NewTicker(job.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if lease != nil && closed(lease.Lost()) {
			log.Warn("background job: lost its lock; another node may run it now")
			lease = nil
			r.held(job.Name, false)
		}
		if lease == nil {
			l, ok, err := r.Locks.TryLock(ctx, job.Name)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("background job: taking its lock", "err", err)
				}
				continue
			}
			if !ok {
				continue // another node runs it
			}
			lease = l
			r.held(job.Name, true)
			log.Info("background job: this node runs it now")
		}
		r.once(ctx, log, job, lease)
	}
}

// once runs job one time, under lease.
func (r *Runner) once(ctx context.Context, log *slog.Logger, job Job, lease meta.Lease) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	err := job.Run(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("background job failed", "err", err, "took", time.Since(start).Round(time.Millisecond))
	case closed(lease.Lost()):
		log.Warn("background job: lost its lock while running; stopped", "took", time.Since(start).Round(time.Millisecond))
	default:
		log.Debug("background job ran", "took", time.Since(start).Round(time.Millisecond))
	}
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
