//go:build !linux

package sim

import (
	"errors"
	"time"
)

func threadCPU() (time.Duration, bool)  { return 0, false }
func processCPU() (time.Duration, bool) { return 0, false }

func pidCPU(int) (time.Duration, error) {
	return 0, errors.New("sim: a process's CPU time is read from /proc (Linux only)")
}
