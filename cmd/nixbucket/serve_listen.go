package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// bindListen binds the server's address. serve calls it before it opens the
// data directory, so a taken port leaves nothing behind; its error says
// what to do about it.
func bindListen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("serve: cannot listen on %s: address already in use (is another nixbucket running?); stop what holds it, or pick a free address with --listen 127.0.0.1:PORT (nothing was created in the data directory)", addr)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("serve: cannot listen on %s: permission denied (ports below 1024 need privileges); pick another with --listen 127.0.0.1:PORT", addr)
	default:
		return nil, fmt.Errorf("serve: cannot listen on %s: %w (set the address with --listen HOST:PORT)", addr, err)
	}
}
