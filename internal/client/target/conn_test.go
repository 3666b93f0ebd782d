package target

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/spool"
)

// countingConn records the largest single write.
type countingConn struct {
	net.Conn
	mu      *sync.Mutex
	largest *int
}

func (c countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	*c.largest = max(*c.largest, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestSendWholeChunks PUTs spooled bodies through a transport set up by
// wrapConns, with and without a stall timeout (which writes files in
// pieces, each under a deadline), and checks that they arrive whole, and
// that a body in memory goes out in writes of whole chunks rather than
// 32 KiB.
func TestSendWholeChunks(t *testing.T) {
	data := make([]byte, 5<<20/2)
	rand.NewChaCha8([32]byte{1}).Read(data)
	spooled := func(t *testing.T, memLimit int) *spool.File {
		w := spool.NewBudget(8<<20).NewWriter(t.TempDir(), memLimit, 0)
		for off := 0; off < len(data); off += 100000 {
			w.Write(data[off:min(off+100000, len(data))])
		}
		f, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name       string
		file       func(*testing.T) *spool.File
		minLargest int
	}{
		{"in memory", func(t *testing.T) *spool.File { return spooled(t, 8<<20) }, 1 << 20},
		{"spilled", func(t *testing.T) *spool.File { return spooled(t, 0) }, 0},
		{"from bytes", func(*testing.T) *spool.File { return spool.FromBytes(data) }, 0},
	}
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	for _, stall := range []time.Duration{0, time.Minute} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/stall=%v", tt.name, stall), func(t *testing.T) {
				var mu sync.Mutex
				largest := 0
				d := &net.Dialer{}
				tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := d.DialContext(ctx, network, addr)
					return countingConn{c, &mu, &largest}, err
				}}
				wrapConns(tr, stall)
				defer tr.CloseIdleConnections()
				f := tt.file(t)
				defer f.Close()
				req, err := http.NewRequest(http.MethodPut, srv.URL+"/x", f.Reader())
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = f.Size()
				resp, err := (&http.Client{Transport: tr}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if !bytes.Equal(got, data) {
					t.Fatalf("the server got %d bytes, not the %d sent", len(got), len(data))
				}
				if largest < tt.minLargest {
					t.Errorf("largest write %d bytes, want at least %d", largest, tt.minLargest)
				}
			})
		}
	}
}
