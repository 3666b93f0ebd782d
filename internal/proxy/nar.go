package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// serveNAR serves nar/NAME: from the disk cache when it holds the file,
// else from the download of it (started, or joined), with Range support
// either way. A NAR whose narinfo this proxy did not serve (it restarted
// since, and the client remembers the narinfo) is passed through
// unchecked and not kept; the client checks it against its NarHash.
func (s *Server) serveNAR(w http.ResponseWriter, r *http.Request, name string) {
	w.Header().Set("Content-Type", "application/x-nix-nar")
	if s.cfg.Cache != nil {
		f, ok, err := s.cfg.Cache.Get(name)
		if err != nil {
			s.log.Warn("proxy: cache", "file", name, "err", err)
		}
		if ok {
			defer f.Close()
			if r.Method == http.MethodGet {
				s.cfg.Metrics.nar(fromCache)
			}
			http.ServeContent(w, r, "", time.Time{}, f)
			return
		}
	}
	ni := s.known(name)
	if ni == nil {
		if r.Method == http.MethodGet {
			s.cfg.Metrics.nar(fromPassthrough)
		}
		s.passThrough(w, r, "nar/"+name, "application/x-nix-nar")
		return
	}
	if r.Method == http.MethodHead { // a probe starts no download
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.FormatUint(ni.Info.FileSize, 10))
		return
	}
	fl, err := s.join(name, ni)
	if err != nil {
		s.log.Warn("proxy: NAR", "file", name, "err", err)
		http.NotFound(w, r)
		return
	}
	defer s.leave(name, fl)
	s.cfg.Metrics.nar(fromDownload)
	rs := &downloadSeeker{ctx: r.Context(), d: fl.d}
	defer rs.Close()
	http.ServeContent(w, r, "", time.Time{}, rs)
	if rs.err != nil && !errors.Is(rs.err, context.Canceled) {
		// The download failed or did not match: the client must see a cut
		// connection, never a complete response.
		s.log.Warn("proxy: NAR cut", "file", name, "err", rs.err)
		panic(http.ErrAbortHandler)
	}
}

// flight is a NAR download with the requests reading it.
type flight struct {
	d       *upstream.Download
	readers int             // guarded by Server.flightMu
	pin     *diskcache.File // the committed entry, held while readers read
}

// join returns the flight of name, starting its download unless one runs.
// The download goes to the disk cache's temp directory when room could be
// reserved for it there, else to TempDir and is not kept.
func (s *Server) join(name string, ni *upstream.Narinfo) (*flight, error) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if fl := s.flights[name]; fl != nil {
		fl.readers++
		return fl, nil
	}
	fl := &flight{readers: 1}
	req := upstream.NARRequest{Source: ni.Source, Info: ni.Info, Dir: s.cfg.TempDir}
	var res *diskcache.Reservation
	if s.cfg.Cache != nil {
		var err error
		res, err = s.cfg.Cache.Reserve(name, int64(ni.Info.FileSize))
		switch {
		case err == nil:
			req.Dir = s.cfg.Cache.TempDir()
			req.Sink = &keep{s: s, fl: fl, res: res}
		case errors.Is(err, diskcache.ErrNoRoom):
			s.log.Info("proxy: NAR not kept, no room in the cache", "file", name, "bytes", ni.Info.FileSize)
		default:
			return nil, err
		}
	}
	// The download runs on its own: it must not end with this request.
	d, started, err := s.cfg.Fetcher.FetchNAR(context.Background(), req)
	if err != nil {
		if res != nil {
			res.Cancel()
		}
		return nil, err
	}
	if !started && res != nil {
		res.Cancel() // joined one the Fetcher still had: its bytes go elsewhere
	}
	fl.d = d
	s.flights[name] = fl
	return fl, nil
}

// leave ends one request's reading of a flight; the last one ends the
// flight, letting its cache entry be evicted again.
func (s *Server) leave(name string, fl *flight) {
	s.flightMu.Lock()
	fl.readers--
	last := fl.readers == 0
	var pin *diskcache.File
	if last {
		if s.flights[name] == fl {
			delete(s.flights, name)
		}
		pin, fl.pin = fl.pin, nil
	}
	s.flightMu.Unlock()
	if pin != nil {
		pin.Close()
	}
	if last {
		fl.d.Close()
	}
}

// keep is the Sink of a download kept in the disk cache: the Fetcher
// writes the temp file itself, so the bytes need no second copy, and
// Commit moves the checked file into the cache.
type keep struct {
	s   *Server
	fl  *flight
	res *diskcache.Reservation
}

func (k *keep) Write(p []byte) (int, error) { return len(p), nil }

func (k *keep) Commit(_ context.Context, tempPath string) error {
	pin, err := k.res.Commit(tempPath)
	if err != nil {
		return err
	}
	k.s.flightMu.Lock()
	if k.fl.readers > 0 {
		k.fl.pin = pin
		pin = nil
	}
	k.s.flightMu.Unlock()
	if pin != nil {
		pin.Close()
	}
	return nil
}

func (k *keep) Abort(error) { k.res.Cancel() }

// downloadSeeker reads a download in flight as an io.ReadSeeker, for
// http.ServeContent: each seek starts a reader at the new offset, which
// waits for the bytes it needs.
type downloadSeeker struct {
	ctx context.Context
	d   *upstream.Download
	pos int64
	r   io.ReadCloser
	err error // the first read error, other than io.EOF
}

func (s *downloadSeeker) Read(p []byte) (int, error) {
	if s.r == nil {
		if s.pos >= s.d.Size() {
			return 0, io.EOF
		}
		r, err := s.d.NewReader(s.ctx, s.pos, -1)
		if err != nil {
			s.err = err
			return 0, err
		}
		s.r = r
	}
	n, err := s.r.Read(p)
	s.pos += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func (s *downloadSeeker) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = s.pos + offset
	case io.SeekEnd:
		pos = s.d.Size() + offset
	}
	if pos < 0 {
		return 0, fmt.Errorf("seek to %d", pos)
	}
	if pos != s.pos && s.r != nil {
		s.r.Close()
		s.r = nil
	}
	s.pos = pos
	return pos, nil
}

func (s *downloadSeeker) Close() error {
	if s.r != nil {
		return s.r.Close()
	}
	return nil
}
