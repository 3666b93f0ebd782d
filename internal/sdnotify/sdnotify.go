// Package sdnotify tells systemd about the service's state over the
// $NOTIFY_SOCKET datagram socket (sd_notify(3)), without cgo or libsystemd,
// so that a unit with Type=notify starts its dependants only once the
// server accepts connections.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// The states a service reports (sd_notify(3)).
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
)

// Send sends state (one or more NAME=VALUE lines) to the socket named by
// $NOTIFY_SOCKET. It reports false, nil when the variable is unset (the
// service was not started by systemd with Type=notify), and an error only
// when the variable is set and the message could not be delivered. A name
// starting with '@' is an abstract socket (Linux).
func Send(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	if err := SendTo(name, state); err != nil {
		return false, err
	}
	return true, nil
}

// SendTo sends state to the unix datagram socket name, which is a path or,
// with a leading '@', an abstract socket.
func SendTo(name, state string) error {
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract socket (@NAME)", name)
	}
	// net turns a leading '@' into the abstract namespace's NUL byte.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", name, err)
	}
	return nil
}
