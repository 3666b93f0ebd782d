package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/atomicfile"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// RootUser owns the admin credentials created on first start.
const RootUser = access.RootUser

// CredentialsProfile is the profile name in <data>/credentials.
const CredentialsProfile = "nixbucket"

// ensureRoot finds the root access key, creating it on first start, and
// (re)writes <data>/credentials when it is missing.
func (s *Server) ensureRoot(ctx context.Context) error {
	keys, err := s.meta.AccessKeys(ctx)
	if err != nil {
		return fmt.Errorf("reading access keys: %w", err)
	}
	for _, k := range keys {
		if k.User == RootUser && k.Enabled {
			s.Root = k
			break
		}
	}
	if s.Root.ID == "" {
		s.Root = meta.AccessKey{ID: access.NewAccessKeyID(), Secret: access.NewSecret(), User: RootUser, Created: time.Now().UTC(), Enabled: true}
		if err := s.meta.PutAccessKey(ctx, s.Root); err != nil {
			return fmt.Errorf("creating admin credentials: %w", err)
		}
		s.FirstStart = true
	}
	path := s.CredentialsFile()
	if _, err := os.Stat(path); err == nil && !s.FirstStart {
		return nil
	}
	body := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", CredentialsProfile, s.Root.ID, s.Root.Secret)
	if err := atomicfile.Write(path, []byte(body), 0o600); err != nil {
		return err
	}
	// The same key as HTTP Basic credentials, for Nix's netrc-file. Nix
	// matches netrc lines by host name, without the port.
	netrc := fmt.Sprintf("machine 127.0.0.1 login %s password %s\nmachine localhost login %s password %s\n", s.Root.ID, s.Root.Secret, s.Root.ID, s.Root.Secret)
	return atomicfile.Write(filepath.Join(s.opts.Data, "netrc"), []byte(netrc), 0o600)
}

// CredentialsFile is where the admin credentials are written.
func (s *Server) CredentialsFile() string { return filepath.Join(s.opts.Data, "credentials") }
