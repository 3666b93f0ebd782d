package server

import "github.com/nixbucket/nixbucket/internal/meta"

// Meta is the metadata store, for tests that check what the handler says
// against what is stored.
func (s *Server) Meta() meta.Store { return s.meta }
