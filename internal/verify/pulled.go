package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// A pull-through bucket (one with upstreams, see internal/pullthrough)
// stores a narinfo it took from an upstream before its NAR, which stays
// upstream until its first GET fetches it; the references of such a path
// come on demand the same way. Neither is a problem while the bucket
// still has upstreams: the check counts these paths apart, and Repair
// leaves them alone. A pulled NAR that is stored but wrong is judged like
// any other. Without upstreams nothing can fetch the NAR any more, and a
// missing one is a problem again.
//
// A pulled narinfo is told apart by the note objects.PutVouched leaves on
// its object (objects.PulledNote): the index record is the same as a
// pushed one's, and a push of the same path replaces the object and so
// drops the note.

// pulled reports whether the bucket pulls through and the narinfo of
// hash was stored from an upstream. It reads the narinfo's object, once
// per narinfo that lacks something: a clean bucket costs nothing.
func (c *Checker) pulled(ctx context.Context, r *Report, hash string) (bool, error) {
	if !r.Upstreams {
		return false, nil
	}
	obj, err := c.Store.Object(ctx, r.Bucket, hash+".narinfo")
	if errors.Is(err, meta.ErrNoSuchKey) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("verify %s: %w", r.Bucket, err)
	}
	return objects.Pulled(obj), nil
}

// addPending counts a pulled narinfo whose NAR is not fetched yet.
func (r *Report) addPending(example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Pending++
	if len(r.PendingExamples) < r.maxExamples {
		r.PendingExamples = append(r.PendingExamples, example)
	}
}

// addPendingRefs counts a pulled narinfo whose references are not pulled
// yet.
func (r *Report) addPendingRefs(example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.PendingRefs++
	if len(r.PendingRefExamples) < r.maxExamples {
		r.PendingRefExamples = append(r.PendingRefExamples, example)
	}
}
