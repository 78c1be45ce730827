package gwkey

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked: another command held the key set's lock for longer than
// lockWait. Nothing was changed; run the command again.
var ErrLocked = errors.New("gwkey: another command is changing the key set; nothing was changed, try again")

// lockSet takes the key set's exclusive lock in dir, waiting at most
// lockWait, and returns its release. Every change of the set or of the
// published file is made under it, from the read of the set to its
// atomic write, so of two commands running at once the second one starts
// from what the first wrote (see the package documentation).
func lockSet(p Purpose, dir string) (unlock func(), err error) {
	unlock, err = lockFile(filepath.Join(dir, p.base+lockSuffix))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("gwkey: lock the key set: %w", err)
	}
	return unlock, nil
}

// openLockFile opens (creating it, 0600) the lock file at path.
func openLockFile(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|flag, 0o600)
}
