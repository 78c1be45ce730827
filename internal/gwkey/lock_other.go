//go:build !unix || solaris || aix

package gwkey

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// lockSuffix ends the name of a key set's lock file in the CA directory
// (gateway-frame-keys.lock for the frame keys). Without flock(2) the
// lock is the file's existence: created exclusively, removed on release.
// A command that crashed holding it leaves it behind, and the next one
// fails with ErrLocked until an operator removes it.
const lockSuffix = ".lock-excl"

// lockFile creates path exclusively, retrying until lockWait has passed.
func lockFile(path string) (func(), error) {
	deadline := time.Now().Add(lockWait)
	for {
		f, err := openLockFile(path, os.O_EXCL)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (if no command is running, remove %s)", ErrLocked, path)
		}
		time.Sleep(lockPoll)
	}
}
