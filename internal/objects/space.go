package objects

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrStorageFull is returned (wrapped) by every write when the disk is
// full, or when free space is under the threshold at which new writes
// are refused. Deletes and aborts still work then.
var ErrStorageFull = errors.New("storage full")

// Space is the disk's say on writes, for a Service whose backends fill a
// local disk (diskspace.Guard). Its errors match syscall.ENOSPC.
type Space interface {
	// Admit returns an error when a new write of size bytes (-1 or 0 when
	// unknown) must be refused for want of space.
	Admit(size int64) error
	// Release frees space kept in reserve, so that a change that frees
	// space can commit on a full disk, and reports whether there was any.
	Release() bool
}

// IsStorageFull reports whether err means the disk is full: ErrStorageFull,
// or a file system or database error that ran out of space (any error
// matching syscall.ENOSPC or syscall.EDQUOT).
func IsStorageFull(err error) bool {
	return errors.Is(err, ErrStorageFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// storageFull makes a full-disk error match ErrStorageFull. Service
// methods that write defer it on their error.
func storageFull(err *error) {
	if *err != nil && !errors.Is(*err, ErrStorageFull) && IsStorageFull(*err) {
		*err = fmt.Errorf("%w: %w", ErrStorageFull, *err)
	}
}

// admit asks Space whether a write of size bytes may start.
func (s *Service) admit(size int64) error {
	if s.Space == nil {
		return nil
	}
	err := s.Space.Admit(size)
	storageFull(&err)
	return err
}

// freeing runs fn, a change that frees space (a delete, an abort). When
// the disk is too full even for its metadata transaction, it releases the
// reserve, if any is left, and runs fn once more (the metadata store may
// also have made room in its own files after the failure).
func (s *Service) freeing(fn func() error) error {
	err := fn()
	if err != nil && IsStorageFull(err) {
		released := s.Space != nil && s.Space.Release()
		s.log().Warn("retrying a delete that found the disk full", "reserve_released", released, "err", err)
		err = fn()
	}
	storageFull(&err)
	return err
}
