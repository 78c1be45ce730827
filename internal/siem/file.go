package siem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/ocsf"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// FileConfig configures the OCSF events file. Zero values take defaults;
// a negative Keep or KeepAge keeps every rotated file by that measure.
type FileConfig struct {
	Path    string        // the active file; rotated files sit beside it
	MaxSize int64         // rotate before a write would pass this size (DefaultFileMaxSize)
	MaxAge  time.Duration // rotate once the file's first event is this old (DefaultFileMaxAge)
	Keep    int           // rotated files kept (DefaultFileKeep)
	KeepAge time.Duration // rotated files older than this are removed (DefaultFileKeepAge)
	Product ocsf.Product
	Now     func() time.Time // the clock (tests); time.Now if nil
}

// File is the OCSF JSON-lines file sink.
type File struct {
	cfg     FileConfig
	mu      sync.Mutex
	f       *os.File
	size    int64
	started time.Time // the time of the active file's first event (zero: empty)
	lastID  string    // the id of the last event in the active file, until passed
}

// rotatedTime is the layout of a rotated file's time stamp: sortable, and
// without ':' (not allowed in Windows file names, awkward in shells).
const rotatedTime = "20060102T150405.000Z"

// NewFile opens (creating, mode 0600) the events file. It reads the last
// line of an existing file: events up to the one it names are not written
// again when the stream re-delivers them after a crash.
func NewFile(cfg FileConfig) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("siem: the events file needs a path")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultFileMaxSize
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultFileMaxAge
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultFileKeep
	}
	if cfg.KeepAge == 0 {
		cfg.KeepAge = DefaultFileKeepAge
	}
	if cfg.Product.Name == "" {
		cfg.Product = ocsf.DefaultProduct
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &File{cfg: cfg}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the sink's stream consumer name.
func (s *File) Name() string { return SinkFile }

func (s *File) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("siem: open the events file: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("siem: the events file: %v", err)
	}
	s.f, s.size, s.started, s.lastID = f, fi.Size(), time.Time{}, ""
	if fi.Size() > 0 {
		s.started = firstTime(f, s.cfg.Now())
		s.lastID = lastID(f, fi.Size())
	}
	return nil
}

// firstTime is the time of the file's first event (OCSF "time", ms), or
// now if it cannot be read (a foreign or damaged file: age counts from now).
func firstTime(f *os.File, now time.Time) time.Time {
	buf := make([]byte, maxLastLine)
	n, _ := f.ReadAt(buf, 0)
	line, _, _ := bytes.Cut(buf[:n], []byte{'\n'})
	var ev struct {
		Time int64 `json:"time"`
	}
	if json.Unmarshal(line, &ev) != nil || ev.Time <= 0 {
		return now
	}
	return time.UnixMilli(ev.Time)
}

// lastID is metadata.uid of the file's last complete line, or "".
func lastID(f *os.File, size int64) string {
	off := max(size-maxLastLine, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	buf = bytes.TrimRight(buf, "\n")
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	}
	var ev struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if json.Unmarshal(buf, &ev) != nil {
		return ""
	}
	return ev.Metadata.UID
}

// Handle writes evs as OCSF lines, rotating as needed, and fsyncs before
// it reports them done (tail.Handler).
func (s *File) Handle(_ context.Context, evs []store.StreamEvent) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := 0
	if s.lastID != "" {
		// After a restart the stream may re-deliver what the file already
		// has: skip through the last event the file holds, if it is here.
		if i := slices.IndexFunc(evs, func(e store.StreamEvent) bool { return e.ID == s.lastID }); i >= 0 {
			start = i + 1
		}
		s.lastID = ""
	}
	var buf []byte
	done := start
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := s.f.Write(buf); err != nil {
			return fmt.Errorf("siem: write the events file: %v", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("siem: sync the events file: %v", err)
		}
		s.size += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	for i := start; i < len(evs); i++ {
		line, err := ocsf.Marshal(evs[i].EventRow, s.cfg.Product)
		if err != nil {
			return done, err
		}
		line = append(line, '\n')
		now := s.cfg.Now()
		pending := s.size + int64(len(buf))
		if pending > 0 && (pending+int64(len(line)) > s.cfg.MaxSize || (!s.started.IsZero() && now.Sub(s.started) >= s.cfg.MaxAge)) {
			if err := flush(); err != nil {
				return done, err
			}
			done = i
			if err := s.rotate(now); err != nil {
				return done, err
			}
		}
		if s.size+int64(len(buf)) == 0 {
			s.started = evs[i].Time
			if s.started.IsZero() || s.started.After(now) {
				s.started = now
			}
		}
		buf = append(buf, line...)
	}
	if err := flush(); err != nil {
		return done, err
	}
	return len(evs), nil
}

// rotate renames the active file with its rotation time, opens a new one
// and applies retention.
func (s *File) rotate(now time.Time) error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("siem: close the events file: %v", err)
	}
	dst := s.rotatedName(now)
	if err := os.Rename(s.cfg.Path, dst); err != nil {
		// Reopen the active file so the sink can go on (and retry).
		if oerr := s.open(); oerr != nil {
			return errors.Join(fmt.Errorf("siem: rotate the events file: %v", err), oerr)
		}
		return fmt.Errorf("siem: rotate the events file: %v", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	return s.retain(now)
}

// rotatedName is the rotated file's name: the active name with the time
// before the extension (events.jsonl -> events-20261205T215100.000Z.jsonl).
func (s *File) rotatedName(t time.Time) string {
	dir, base := filepath.Split(s.cfg.Path)
	ext := filepath.Ext(base)
	name := strings.TrimSuffix(base, ext) + "-" + t.UTC().Format(rotatedTime)
	for i := 0; ; i++ {
		p := filepath.Join(dir, name+ext)
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s.%d%s", name, i, ext))
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

// Rotated lists the rotated files, oldest first, with their rotation times.
func (s *File) Rotated() ([]string, error) {
	files, err := s.rotated()
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out, err
}

type rotatedFile struct {
	path string
	at   time.Time
}

func (s *File) rotated() ([]rotatedFile, error) {
	dir, base := filepath.Split(s.cfg.Path)
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) {
			continue
		}
		stamp := strings.TrimSuffix(strings.TrimPrefix(n, prefix), ext)
		stamp, _, _ = strings.Cut(stamp, ".") // drop the ms and a ".N" collision suffix
		t, err := time.Parse("20060102T150405", stamp)
		if err != nil {
			continue // not ours
		}
		out = append(out, rotatedFile{path: filepath.Join(dir, n), at: t})
	}
	slices.SortFunc(out, func(a, b rotatedFile) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

// retain removes rotated files beyond Keep or older than KeepAge.
func (s *File) retain(now time.Time) error {
	files, err := s.rotated()
	if err != nil {
		return fmt.Errorf("siem: list rotated events files: %v", err)
	}
	var errs []error
	for i, f := range files {
		tooMany := s.cfg.Keep > 0 && len(files)-i > s.cfg.Keep
		tooOld := s.cfg.KeepAge > 0 && now.Sub(f.at) > s.cfg.KeepAge
		if tooMany || tooOld {
			if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("siem: retention of the events files: %v", errors.Join(errs...))
	}
	return nil
}

// Close closes the file.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
