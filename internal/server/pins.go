package server

import (
	"net/http"

	"github.com/nixbucket/nixbucket/internal/pinapi"
	"github.com/nixbucket/nixbucket/internal/pins"
	"github.com/nixbucket/nixbucket/internal/s3api"
)

// pinsAPI registers the pins API (/-/api/buckets/BUCKET/pins…), which
// knows callers through the S3 front end and decides with the same
// policy evaluation.
func (s *Server) pinsAPI(mux *http.ServeMux, api *s3api.Handler) {
	mux.Handle(pinapi.Prefix, &pinapi.Handler{
		Pins:      &pins.Service{Store: s.meta},
		Identify:  api.Identify,
		Authorize: s.access.Authorize,
		Log:       s.log,
	})
}
