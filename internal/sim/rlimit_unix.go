//go:build unix

package sim

import (
	"fmt"
	"syscall"
)

// checkOpenFiles makes sure the process may open need files, raising the
// soft limit towards the hard one if it must.
func checkOpenFiles(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the dials tell
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	if lim.Max >= uint64(need) {
		raised := lim
		raised.Cur = uint64(need)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return nil
		}
	}
	return fmt.Errorf("sim: %d trucks need about %d open files, the limit is %d (hard %d): run fewer trucks per process, or raise the limit (ulimit -n)",
		(need-fdsSpare)/fdsPerVehicle, need, lim.Cur, lim.Max)
}
