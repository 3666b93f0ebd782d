package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nixbucket/nixbucket/internal/atomicfile"
)

// LocalBlobsSetting is the setting where a server on a shared metadata
// store with local blobs records its blob directory's id (the file
// localBlobsIDFile in it). Local blobs serve one server: a second node
// with blobs of its own cannot read what the first wrote, and the store
// cannot tell from --blobs alone (both are ""). The ids can.
const LocalBlobsSetting = "local-blobs-id"

// localBlobsIDFile names the id file in the data directory's blobs/.
const localBlobsIDFile = "store-id"

// claimLocalBlobs records this server's local blob directory as the
// store's, saying loudly at start when another server's was recorded
// before it while the store holds objects (two nodes each on local blobs,
// or a node whose data directory was replaced): the objects written
// through the other are missing here. It may be a deliberate move of the
// blobs, so it warns rather than refuses, as recordBlobStore does.
func (s *Server) claimLocalBlobs(ctx context.Context) error {
	path := filepath.Join(s.opts.Data, "blobs", localBlobsIDFile)
	mine, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the local blob directory's id: %w", err)
	}
	id := strings.TrimSpace(string(mine))
	if id == "" {
		b := make([]byte, 16)
		rand.Read(b)
		id = hex.EncodeToString(b)
		if err := atomicfile.Write(path, []byte(id+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the local blob directory's id: %w", err)
		}
	}
	cur, err := s.meta.Setting(ctx, LocalBlobsSetting)
	if err != nil {
		return fmt.Errorf("reading the local blob directory setting: %w", err)
	}
	if cur == id {
		return nil
	}
	if held, err := s.holdsObjects(ctx); cur != "" && err == nil && held {
		s.log.Warn("this server's local blob directory is not the one the servers before it on this metadata store wrote to: "+
			"local blobs serve one server, so objects written through another node are missing here; "+
			"give every server one shared --blobs s3://… store (see Scale out in the README), or move the blobs/ directory with the data",
			"dir", filepath.Dir(path))
	}
	return s.meta.SetSetting(ctx, LocalBlobsSetting, id)
}
