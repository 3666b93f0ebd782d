package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// bindListen binds serve's address given to flag (--listen,
// --metrics-listen). serve calls it before it opens the data directory, so
// a taken port leaves nothing behind; its error says what to do about it,
// naming the flag.
func bindListen(flag, addr string) (net.Listener, error) {
	return bindFor("serve", " (nothing was created in the data directory)", flag, addr)
}

// bindFor binds addr, given to command cmd's flag; note ends the message
// of a taken port.
func bindFor(cmd, note, flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	where := addr
	if flag != "--listen" {
		where += " (" + flag + ")"
	}
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s: cannot listen on %s: address already in use (is another nixbucket running?); stop what holds it, or pick a free address with %s 127.0.0.1:PORT%s", cmd, where, flag, note)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s: cannot listen on %s: permission denied (ports below 1024 need privileges); pick another with %s 127.0.0.1:PORT", cmd, where, flag)
	default:
		return nil, fmt.Errorf("%s: cannot listen on %s: %w (set the address with %s HOST:PORT)", cmd, where, err, flag)
	}
}
