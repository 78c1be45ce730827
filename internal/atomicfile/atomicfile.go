// Package atomicfile writes files so that a crash leaves either the old
// file or the new one, never a part of one: the gateway's keys, CA state,
// bound addresses and the simulator's cached credentials go through it.
//
// # Security model
//
//   - The data goes to a temporary file in the same directory, created with
//     mode 0600 by os.CreateTemp and set to the final mode before any byte
//     is written, so a secret is never readable by others, not even while
//     it is written. The file is fsynced, put in place, and the directory
//     fsynced, so the new name survives a power loss.
//   - Write replaces path (rename); CreateExclusive never does (link), so of
//     two concurrent creators exactly one wins and the other gets
//     fs.ErrExist.
//
// Package agent keeps its own copy of Write (agent/counter.go,
// writeFileSync): it is vendored by AV teams and imports nothing under
// internal/.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with mode perm through a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the directory.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, os.Rename)
}

// CreateExclusive writes data to a new file path with mode perm, durably
// like Write, but links the temporary file to path instead of renaming it:
// it fails with an error wrapping fs.ErrExist if path exists.
func CreateExclusive(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, os.Link)
}

// write writes data with mode perm to a temporary file next to path,
// fsyncs it, puts it in place with place(tmp, path) (os.Rename or os.Link),
// fsyncs the directory and removes what is left of the temporary name.
func write(path string, data []byte, perm fs.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a rename, a no-op
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
