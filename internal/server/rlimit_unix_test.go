//go:build unix

package server

import (
	"syscall"
	"testing"
)

// raiseOpenFiles makes sure the test may hold need files open, raising the
// soft limit towards the hard one (as internal/sim does for a fleet).
func raiseOpenFiles(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("open-files limit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Fatalf("this test holds %d sockets; the open-files hard limit is %d", need, lim.Max)
	}
	raised := lim
	raised.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		t.Fatalf("raise the open-files limit to %d: %v", need, err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}
