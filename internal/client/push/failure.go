package push

import (
	"errors"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/client/target"
)

// stopper ends a run at its first target.Failure: missing or wrong
// credentials, a policy's denial or a missing bucket would refuse every
// other path alike, so the run is cancelled and the Failure becomes Run's
// error, said once instead of once per path.
type stopper struct {
	cancel func()
	err    atomic.Pointer[target.Failure]
}

// check stops the run if err is a Failure, and reports whether the run is
// stopped (by this error or an earlier one).
func (s *stopper) check(err error) bool {
	var f *target.Failure
	if errors.As(err, &f) && s.err.CompareAndSwap(nil, f) {
		s.cancel()
	}
	return s.err.Load() != nil
}

// stopped returns the Failure that stopped the run, or nil.
func (s *stopper) stopped() *target.Failure { return s.err.Load() }

// bare returns the Failure err wraps, without the wrapping (its message
// says all: which cache, what was refused, and what to do), or err.
func bare(err error) error {
	var f *target.Failure
	if errors.As(err, &f) {
		return f
	}
	return err
}
