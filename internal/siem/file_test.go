package siem_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)

// streamEvents makes n stream events from position from, with real
// event bodies, at time at.
func streamEvents(t *testing.T, from, n int, at time.Time) []store.StreamEvent {
	t.Helper()
	out := make([]store.StreamEvent, n)
	for i := range out {
		ev := event.Event{ID: fmt.Sprintf("ev-%04d", from+i), Time: at, Class: event.ClassTelemetry, Activity: "frame",
			Severity: codes.SeverityHigh, Verdict: event.Reject, Code: codes.Replay, Resource: "urn:fifthwheel:vehicle:t1",
			Source: "203.0.113.7", Attrs: map[string]any{"i": from + i}}
		row, err := event.Row(ev)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = store.StreamEvent{Pos: store.StreamPos(from + i), EventRow: row}
	}
	return out
}

// readIDs returns metadata.uid of every line of the files, in order.
func readIDs(t *testing.T, paths ...string) []string {
	t.Helper()
	var ids []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				ClassUID int `json:"class_uid"`
				Metadata struct {
					UID string `json:"uid"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: not an OCSF JSON line: %v", p, err)
			}
			if ev.ClassUID != 2004 {
				t.Fatalf("%s: class_uid %d, want 2004 for a replay", p, ev.ClassUID)
			}
			ids = append(ids, ev.Metadata.UID)
		}
		f.Close()
	}
	return ids
}

func wantSequence(t *testing.T, ids []string, from, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("%d events in the files, want %d: %v", len(ids), n, ids)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("ev-%04d", from+i); id != want {
			t.Fatalf("event %d is %s, want %s (lost, repeated or out of order)", i, id, want)
		}
	}
}

func TestFileRotatesBySizeAndKeepsCount(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: t0}
	path := filepath.Join(dir, "events.jsonl")
	s, err := siem.NewFile(siem.FileConfig{Path: path, MaxSize: 4096, Keep: 3, KeepAge: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	total := 0
	for batch := 0; batch < 12; batch++ {
		evs := streamEvents(t, total, 5, clk.Now())
		if n, err := s.Handle(ctx, evs); err != nil || n != 5 {
			t.Fatalf("handle: %d %v", n, err)
		}
		total += 5
		clk.Add(time.Second) // distinct rotation names
	}
	rot, err := s.Rotated()
	if err != nil {
		t.Fatal(err)
	}
	if len(rot) != 3 {
		t.Fatalf("%d rotated files kept, want 3: %v", len(rot), rot)
	}
	for _, p := range append(rot, path) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4096 {
			t.Errorf("%s is %d bytes, over the 4096 limit", p, fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", p, fi.Mode().Perm())
		}
	}
	// The kept files and the active one hold the newest events, in order,
	// each once: they end with the last event written.
	ids := readIDs(t, append(rot, path)...)
	first := total - len(ids)
	wantSequence(t, ids, first, len(ids))
}

func TestFileRotatesByAgeAndRemovesOld(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: t0}
	path := filepath.Join(dir, "events.jsonl")
	s, err := siem.NewFile(siem.FileConfig{Path: path, MaxAge: time.Hour, Keep: -1, KeepAge: 3 * time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Handle(ctx, streamEvents(t, 0, 2, clk.Now())); err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Minute)
	if _, err := s.Handle(ctx, streamEvents(t, 2, 1, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if rot, _ := s.Rotated(); len(rot) != 0 {
		t.Fatalf("rotated before the file was an hour old: %v", rot)
	}
	clk.Add(time.Minute)
	if _, err := s.Handle(ctx, streamEvents(t, 3, 1, clk.Now())); err != nil {
		t.Fatal(err)
	}
	rot, _ := s.Rotated()
	if len(rot) != 1 {
		t.Fatalf("not rotated at an hour: %v", rot)
	}
	wantSequence(t, readIDs(t, rot[0], path), 0, 4)
	// Three more rotations, each a little over an hour apart: the first
	// rotated file passes the 3-hour retention and is removed.
	for i := 0; i < 3; i++ {
		clk.Add(time.Hour + time.Minute)
		if _, err := s.Handle(ctx, streamEvents(t, 4+i, 1, clk.Now())); err != nil {
			t.Fatal(err)
		}
	}
	rot2, _ := s.Rotated()
	if len(rot2) != 3 || rot2[0] == rot[0] {
		t.Fatalf("rotated files after 3 h more: %v (the first, %s, must be gone)", rot2, rot[0])
	}
	if _, err := os.Stat(rot[0]); !os.IsNotExist(err) {
		t.Fatalf("%s kept past its age", rot[0])
	}
}

// TestFileSkipsWhatItAlreadyWrote: the stream re-delivers after a crash
// (the cursor had not moved); the file does not repeat those events.
func TestFileSkipsWhatItAlreadyWrote(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	s, err := siem.NewFile(siem.FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handle(ctx, streamEvents(t, 0, 5, t0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = siem.NewFile(siem.FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Handle(ctx, streamEvents(t, 3, 4, t0)); err != nil || n != 4 {
		t.Fatalf("handle: %d %v", n, err)
	}
	wantSequence(t, readIDs(t, path), 0, 7)
}

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }

func readAll(t *testing.T, st store.Store) []store.StreamEvent {
	t.Helper()
	evs, err := st.ReadEventStream(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// readAnyIDs returns metadata.uid of every line of path.
func readAnyIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		ids = append(ids, ev.Metadata.UID)
	}
	return ids
}

// TestFullDiskDelaysButNeverRefuses: with the events file on a full disk
// (/dev/full answers ENOSPC), recording events still succeeds (the file is
// not a bus sink), the sink reports the failure and its cursor does not
// move: nothing is skipped, it is delivered once there is room.
func TestFullDiskDelaysButNeverRefuses(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	st := storetest.Engines()[0].Open(t)
	sink, err := siem.NewFile(siem.FileConfig{Path: "/dev/full"})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	bus := event.NewBus(nil, nil, event.NewStoreSink(st))
	var mu sync.Mutex
	var errs []error
	cfg := siem.RunConfig{Holder: "h1", Poll: 10 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnError: func(_ string, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }}
	runCtx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { siem.Run(runCtx, st, cfg, sink); close(done) }()
	for i := 0; i < 5; i++ {
		if err := bus.Emit(ctx, event.Event{Class: event.ClassTelemetry, Activity: "frame", Verdict: event.Reject, Code: codes.Replay}); err != nil {
			t.Fatalf("recording an event failed with the events file's disk full: %v", err)
		}
	}
	waitFor(t, "the sink's failure", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) >= 2 })
	cancel()
	<-done
	if pos := cursorOf(st, "sink:ocsf-file"); pos != 0 {
		t.Fatalf("the cursor moved to %d although nothing was written", pos)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(errs[0].Error(), "no space") {
		t.Errorf("error %v, want ENOSPC", errs[0])
	}
}
