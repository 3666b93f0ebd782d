package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a pprof CPU profile of the push to the file named
// by NIXBUCKET_CPUPROFILE, if that is set (a hidden switch for measuring
// the push's cost per byte). It returns the function that stops it.
func startCPUProfile() (stop func(), err error) {
	name := os.Getenv("NIXBUCKET_CPUPROFILE")
	if name == "" {
		return func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("NIXBUCKET_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("NIXBUCKET_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
