package gwkey

import "time"

const (
	// ReloadInterval is how often a running gateway re-reads the key set
	// (Signer.Reload), so a promotion made with the CLI, or copied in from
	// another replica's CA directory, takes effect without a restart. 5 s,
	// like the CA directory's own reload: a read of a small file, and the
	// time during which replicas may sign with different keys after a
	// promotion (vehicles pinning both accept either).
	ReloadInterval = 5 * time.Second

	// maxSetFileBytes bounds the key set file read: three keys take about
	// 2 KiB; anything much larger is not a key set.
	maxSetFileBytes = 64 << 10

	// lockWait bounds how long a change of the key set waits for another
	// one holding the lock (lockSet): a change takes milliseconds (a KEK
	// decryption, a key generation, two fsynced writes), so 10 s is a
	// command that hangs, and the waiter gives up with ErrLocked rather
	// than hang too. lockPoll is how often it tries.
	lockWait = 10 * time.Second
	lockPoll = 10 * time.Millisecond
)
