package fastlane

import (
	"net"
	"syscall"
	"unsafe"
)

// sendQueue returns how many bytes c's send queue holds, sent and not yet
// acknowledged or not yet sent (SIOCOUTQ, which is TIOCOUTQ's number), or
// -1 if it cannot tell.
func sendQueue(c *net.TCPConn) int64 {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	q := int32(-1)
	raw.Control(func(fd uintptr) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&q))); e != 0 {
			q = -1
		}
	})
	return int64(q)
}
