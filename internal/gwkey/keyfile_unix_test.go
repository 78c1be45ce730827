//go:build unix

package gwkey

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeyFileRefusesAFIFO: a FIFO put where the key set goes is refused at
// once, not read (nor waited on for a writer).
func TestKeyFileRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), SetFile)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := readKeyFile(path); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Fatalf("a FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("readKeyFile waits on a FIFO")
	}
}
