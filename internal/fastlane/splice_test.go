package fastlane

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// socketBody is a body that a TCP socket gives, as s3store's blobs of a
// store over plain http: Read copies from the socket, SpliceSource hands
// it over.
type socketBody struct {
	conn  *net.TCPConn
	size  int64
	off   int64
	moved *atomic.Int64 // bytes the fast lane took by splicing
}

func (b *socketBody) Read(p []byte) (int, error) {
	n, err := b.conn.Read(p)
	b.off += int64(n)
	return n, err
}

func (b *socketBody) Seek(off int64, whence int) (int64, error) {
	switch {
	case whence == io.SeekEnd && off == 0:
		return b.size, nil
	case whence == io.SeekStart && off == b.off:
		return off, nil
	}
	return 0, errors.New("socketBody: only the sizing seeks")
}

func (b *socketBody) SpliceSource(n int64) ([]byte, *net.TCPConn, func(int64, error), error) {
	return nil, b.conn, func(moved int64, err error) { b.moved.Add(moved) }, nil
}

// source starts a server that writes send bytes of data to whoever
// connects, then closes, and returns a connection to it.
func source(t *testing.T, data []byte) *net.TCPConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(data)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestSpliceSocketSource: a body from another socket is spliced whole
// into the client's connection; one whose source ends early is cut, never
// answered as a complete 200.
func TestSpliceSocketSource(t *testing.T) {
	data := bytes.Repeat([]byte("spliced nar bytes "), 300000) // 5.4 MB
	for _, tc := range []struct {
		name string
		send int // bytes the source gives of len(data) announced
	}{{"whole", len(data)}, {"source ends early", len(data) / 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var moved atomic.Int64
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := &socketBody{conn: source(t, data[:tc.send]), size: int64(len(data)), moved: &moved}
				w.Header().Set("Content-Type", "application/x-nix-nar")
				http.ServeContent(w, r, "", time.Time{}, body)
			})
			tw := pair(t, h, nil)
			resp, err := http.Get("http://" + tw.lane + "/nar")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(data)) {
				t.Fatalf("status %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
			}
			got, err := io.ReadAll(resp.Body)
			if tc.send == len(data) {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes, err %v; want the %d sent", len(got), err, len(data))
				}
				if m := moved.Load(); m != int64(len(data)) {
					t.Errorf("%d bytes spliced, want %d", m, len(data))
				}
				return
			}
			if err == nil {
				t.Fatalf("a body cut at %d of %d bytes read without error (%d bytes)", tc.send, len(data), len(got))
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatal("the bytes before the cut differ from the source's")
			}
		})
	}
}
