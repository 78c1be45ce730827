package gwkey

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestAttackKeyFileSwappedAfterCheck: the key set file is replaced, by
// rename, between the checks of its mode and size and the read. What is
// read must be the file that was checked: never more than the size bound,
// never a file readable by others.
func TestAttackKeyFileSwappedAfterCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	small := bytes.Repeat([]byte("s"), 16)
	big := bytes.Repeat([]byte("b"), maxSetFileBytes+1)
	loose := bytes.Repeat([]byte("l"), 16)
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			// A fresh small 0600 file, then a big one, then a loose one.
			os.Rename(write("a", small, 0o600), path)
			os.Rename(write("b", big, 0o600), path)
			os.Rename(write("a", small, 0o600), path)
			os.Rename(write("c", loose, 0o644), path)
		}
	})
	defer wg.Wait()
	defer close(done)
	for range 20000 {
		b, err := readKeyFile(path)
		if err != nil {
			continue
		}
		if !bytes.Equal(b, small) {
			t.Fatalf("read %d bytes %.8q... of a file other than the one checked (larger than %d, or mode 0644)", len(b), b, maxSetFileBytes)
		}
	}
}
