//go:build !unix

package fastlane

import "time"

func cpuTime() time.Duration { return 0 }
