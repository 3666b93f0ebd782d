package s3store

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTuneRawLoopback: a raw connection to a store on loopback gets the
// fixed receive buffer (the kernel reports twice what was set, its
// bookkeeping included), where autotuning would start at tcp_rmem's
// default.
func TestTuneRawLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	var b Backend
	c, err := b.dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	rc.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	if err != nil {
		t.Fatal(err)
	}
	if got != 2*rawWindow {
		t.Errorf("SO_RCVBUF of a loopback raw connection = %d, want %d", got, 2*rawWindow)
	}
}
