package server

// unreachable is the ability of a metadata or blob store to tell, from one
// of its errors, that it could not be reached (postgres.Store,
// s3store.Backend); the embedded stores on local disk have none.
type unreachable interface {
	Unreachable(err error) bool
}

// unavailable names the backend err shows unreachable, or returns "" (see
// s3api.Handler.Unavailable). The blob store is asked first: its errors
// are the S3 SDK's and net/http's, which the metadata store's test for a
// lost connection would also take for its own.
func (s *Server) unavailable(err error) string {
	if b, ok := s.blobs.(unreachable); ok && b.Unreachable(err) {
		return "the blob store"
	}
	if m, ok := s.meta.(unreachable); ok && m.Unreachable(err) {
		return "the metadata store"
	}
	return ""
}

// listenerState is the ability of a metadata store shared by several
// servers to tell the state of its change listener (postgres.Store), for
// /-/metrics.
type listenerState interface {
	ListenerState() (listening, answering bool, lost uint64)
}
