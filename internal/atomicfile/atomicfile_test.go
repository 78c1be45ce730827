package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// leftovers returns the names in dir other than want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		keep := false
		for _, w := range want {
			keep = keep || e.Name() == w
		}
		if !keep {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteReplacesTheWholeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := Write(path, []byte("old, and longer than the new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new" {
		t.Fatalf("%q %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
	if l := leftovers(t, dir, "key"); len(l) != 0 {
		t.Fatalf("left behind %v", l)
	}
}

// TestFailedWriteKeepsTheOldFile: a write that cannot be put in place (here
// path is a non-empty directory) changes nothing and leaves no temporary
// file.
func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o600); err == nil {
		t.Fatal("a rename over a non-empty directory succeeded")
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the old entry changed: %v %v", fi, err)
	}
	if l := leftovers(t, dir, "state"); len(l) != 0 {
		t.Fatalf("left behind %v", l)
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
}

// TestCreateExclusiveHasOneWinner: of concurrent creators of one path
// exactly one succeeds; the others get fs.ErrExist, and the file holds the
// winner's bytes whole.
func TestCreateExclusiveHasOneWinner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = CreateExclusive(path, []byte{byte('a' + i)}, 0o600) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("creators %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, fs.ErrExist):
			t.Fatalf("creator %d: %v, want fs.ErrExist", i, err)
		}
	}
	b, err := os.ReadFile(path)
	if won < 0 || err != nil || string(b) != string(rune('a'+won)) {
		t.Fatalf("winner %d, file %q %v", won, b, err)
	}
	if l := leftovers(t, dir, "secrets.key"); len(l) != 0 {
		t.Fatalf("left behind %v", l)
	}
}
