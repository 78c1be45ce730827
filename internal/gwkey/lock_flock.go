//go:build unix && !solaris && !aix

package gwkey

import (
	"errors"
	"syscall"
	"time"
)

// lockSuffix ends the name of a key set's lock file in the CA directory
// (gateway-frame-keys.lock for the frame keys). It is left in place:
// removing a flock(2) lock file would let two commands hold locks on two
// different files.
const lockSuffix = ".lock"

// lockFile takes an exclusive flock(2) on path, polling until lockWait has
// passed. The kernel drops the lock when its holder exits, however it
// exits: a crashed command leaves no stale lock.
func lockFile(path string) (func(), error) {
	f, err := openLockFile(path, syscall.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, ErrLocked
		}
		time.Sleep(lockPoll)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the lock
}
