package server

import (
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// The binary reaches the access service and the object core only through
// the handler; the tests set them up directly.

// Access is the access service.
func (s *Server) Access() *access.Service { return s.access }

// Objects is the object core.
func (s *Server) Objects() *objects.Service { return s.objects }

// Lifecycle is the lifecycle service; tests move its clock and sweep.
func (s *Server) Lifecycle() *lifecycle.Service { return s.life }

// SetBodyIdle shortens how long net/http may wait for what is left of a
// body after the handler, for servers opened after it; it returns a func
// restoring it.
func SetBodyIdle(d time.Duration) func() {
	old := bodyIdle
	bodyIdle = d
	return func() { bodyIdle = old }
}

// SetCompleteQuiet sets how long a CompleteMultipartUpload may work before
// its 200 is sent (negative: at once), for servers opened after it; it
// returns a func restoring it.
func SetCompleteQuiet(d time.Duration) func() {
	old := completeQuiet
	completeQuiet = d
	return func() { completeQuiet = old }
}
