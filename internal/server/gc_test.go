package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestScheduledGC: with GCInterval set, the server collects the buckets
// with gc=on, logs the run's figures, and leaves the others alone.
func TestScheduledGC(t *testing.T) {
	var logs testenv.LogBuffer
	srv, err := Open(context.Background(), Options{Data: t.TempDir(), GCInterval: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := t.Context()
	for _, b := range []string{"gc-on", "gc-off"} {
		if err := srv.objects.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
		// An orphan NAR; a nanosecond's grace lets it go at once.
		body := strings.Repeat("n", 100)
		if _, err := srv.objects.Put(ctx, objects.PutInput{Bucket: b, Key: "nar/orphan.nar", Body: strings.NewReader(body), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if err := srv.meta.SetRetention(ctx, b, meta.Retention{GC: b == "gc-on", Grace: time.Nanosecond}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	for !strings.Contains(logs.String(), "msg=gc bucket=gc-on") {
		select {
		case <-ctx.Done():
			t.Fatalf("no gc run was logged:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if line := logs.String(); !strings.Contains(line, "nars=1") || !strings.Contains(line, "orphan_files=1") {
		t.Errorf("the logged run does not count the orphan NAR:\n%s", line)
	}
	if _, err := srv.meta.Object(ctx, "gc-on", "nar/orphan.nar"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("bucket with gc=on: the orphan NAR is still there (%v)", err)
	}
	if _, err := srv.meta.Object(ctx, "gc-off", "nar/orphan.nar"); err != nil {
		t.Errorf("bucket with gc=off: the orphan NAR went (%v)", err)
	}
	if strings.Contains(logs.String(), "bucket=gc-off") {
		t.Errorf("bucket with gc=off was collected:\n%s", logs.String())
	}
}
