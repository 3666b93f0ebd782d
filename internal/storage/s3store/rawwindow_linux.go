package s3store

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// A raw GET's connection to a store close by (loopback, the same rack)
// gets a fixed receive buffer of rawWindow instead of the kernel's
// autotuned one. A NAR spliced through the server reaches the client no
// faster than the server passes it on, and with autotuning the store ran
// ahead into a receive queue grown to 20 MB, which the kernel then
// compacted (TCPRcvCollapsed) while the store, woken for every bit of
// window, spent 16 ms of CPU per 70 MB NAR against 10 ms when a client
// read it directly. With the buffer fixed the store's cost matched the
// direct GET's (11 ms); the server's rose by 2 to 4 ms, so the machine's
// total per proxied NAR fell by about 5% and the speed did not move
// beyond the noise (2 cores shared by client, server and store).
// rawWindow passes 1 GB/s per connection at nearRTT, so a store farther
// away, where a fixed window would cap a stream's speed, keeps autotuning.
const (
	rawWindow = 1 << 20
	nearRTT   = time.Millisecond
)

// tuneRaw sets the receive buffer of c, a fresh connection to the store,
// if the handshake's round trip shows the store close by.
func tuneRaw(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var rtt time.Duration = -1
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			rtt = time.Duration(info.Rtt) * time.Microsecond
		}
	})
	if rtt >= 0 && rtt < nearRTT {
		c.SetReadBuffer(rawWindow)
	}
}
