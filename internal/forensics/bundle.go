package forensics

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrBundle reports a bundle that cannot be read: not gzip, not a tar as
// Export writes it, an unsafe or duplicate path, or over a bound.
var ErrBundle = errors.New("forensics: malformed bundle")

// ErrTooLarge reports an export over a bound (limits.go): narrow the window.
var ErrTooLarge = errors.New("forensics: export over its bounds")

// file is one file of a bundle.
type file struct {
	path string
	data []byte
}

// epoch is the modification time of every entry: a bundle's bytes depend
// on its contents only.
var epoch = time.Unix(0, 0).UTC()

const fileMode = 0o644

// validPath reports whether p is a path Export could have written: relative,
// clean, of [A-Za-z0-9._-] segments, none of them "." or "..".
func validPath(p string) bool {
	if p == "" || len(p) > MaxPathLen {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || !safeToken(seg, "._-") {
			return false
		}
	}
	return true
}

// safeToken reports whether s is non-empty, at most MaxTokenLen bytes, of
// ASCII letters, digits and the bytes of extra: what may stand on a
// manifest line or in a path without quoting.
func safeToken(s, extra string) bool {
	if s == "" || len(s) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// writeBundle writes files, in the order given, as a gzip'd USTAR archive
// with fixed headers.
func writeBundle(files []file) ([]byte, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	total := 0
	for _, f := range files {
		if !validPath(f.path) {
			return nil, fmt.Errorf("%w: unsafe path %q", ErrBundle, f.path)
		}
		if len(f.data) > MaxFileSize {
			return nil, fmt.Errorf("%w: %s is %d bytes, over %d", ErrTooLarge, f.path, len(f.data), MaxFileSize)
		}
		total += len(f.data) + 1024
		if total > MaxBundleSize {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxBundleSize)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: fileMode, Size: int64(len(f.data)),
			ModTime: epoch, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gb bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gb, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tb.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gb.Bytes(), nil
}

// readBundle reads a bundle strictly: one gzip member, a tar of regular
// files with exactly the headers writeBundle writes, safe unique paths,
// within the bounds.
func readBundle(b []byte) ([]file, error) {
	br := bytes.NewReader(b)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: not gzip: %v", ErrBundle, err)
	}
	zr.Multistream(false)
	raw, err := io.ReadAll(io.LimitReader(zr, MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrBundle, err)
	}
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("%w: over %d bytes uncompressed", ErrBundle, MaxBundleSize)
	}
	// Nothing may follow the gzip member (a second member, or garbage).
	// A bytes.Reader is an io.ByteReader, so gzip reads no further than
	// its member's trailer.
	if br.Len() != 0 {
		return nil, fmt.Errorf("%w: data after the gzip stream", ErrBundle)
	}
	return readTar(raw)
}

// readTar parses the uncompressed archive.
func readTar(raw []byte) ([]file, error) {
	tr := tar.NewReader(bytes.NewReader(raw))
	var files []file
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %v", ErrBundle, err)
		}
		if len(files) >= MaxFiles {
			return nil, fmt.Errorf("%w: over %d files", ErrBundle, MaxFiles)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != fileMode || !hdr.ModTime.Equal(epoch) ||
			hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || hdr.Linkname != "" ||
			len(hdr.PAXRecords) != 0 || hdr.Devmajor != 0 || hdr.Devminor != 0 {
			return nil, fmt.Errorf("%w: entry %q: not a plain file as written by export", ErrBundle, hdr.Name)
		}
		if !validPath(hdr.Name) {
			return nil, fmt.Errorf("%w: unsafe path %q", ErrBundle, hdr.Name)
		}
		if seen[hdr.Name] {
			return nil, fmt.Errorf("%w: %s twice", ErrBundle, hdr.Name)
		}
		seen[hdr.Name] = true
		if hdr.Size < 0 || hdr.Size > MaxFileSize {
			return nil, fmt.Errorf("%w: %s over %d bytes", ErrBundle, hdr.Name, MaxFileSize)
		}
		data, err := io.ReadAll(io.LimitReader(tr, hdr.Size+1))
		if err != nil || int64(len(data)) != hdr.Size {
			return nil, fmt.Errorf("%w: %s truncated", ErrBundle, hdr.Name)
		}
		files = append(files, file{path: hdr.Name, data: data})
	}
	return files, nil
}

// Contents returns a bundle's files by path, read as Verify reads them.
func Contents(bundle []byte) (map[string][]byte, error) {
	files, err := readBundle(bundle)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		out[f.path] = f.data
	}
	return out, nil
}

// Tamper returns a copy of bundle with the byte at offset of the file at
// path flipped (its low bit), everything else as it was: what the
// tampered-bundle drill hands to Verify.
func Tamper(bundle []byte, path string, offset int) ([]byte, error) {
	files, err := readBundle(bundle)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if f.path == path {
			if offset < 0 || offset >= len(f.data) {
				return nil, fmt.Errorf("forensics: %s has no byte %d", path, offset)
			}
			d := append([]byte(nil), f.data...)
			d[offset] ^= 0x01
			files[i].data = d
			return writeBundle(files)
		}
	}
	return nil, fmt.Errorf("forensics: no %s in the bundle", path)
}
