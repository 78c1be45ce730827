package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// seedOldFrames stores, in dir's SQLite store, three frames of vehicle T1
// 100 days old and one a minute old.
func seedOldFrames(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var recs []store.FrameRecord
	for seq := int64(0); seq < 4; seq++ {
		ts := now.Add(-100 * 24 * time.Hour).Add(time.Duration(seq) * time.Second)
		if seq == 3 {
			ts = now.Add(-time.Minute)
		}
		raw := []byte(fmt.Sprintf(`{"seq":%d}`, seq))
		h := sha256.Sum256(raw)
		recs = append(recs, store.FrameRecord{VehicleID: "T1", Seq: seq, Kind: "telemetry", TS: ts, ReceivedAt: now,
			Alg: "Ed25519", KID: "k1", Hash: h[:], Raw: raw, Sig: []byte("sig"), Verdict: "accepted"})
	}
	if _, err := st.AppendFrames(ctx, recs, 0); err != nil {
		t.Fatal(err)
	}
}

// TestServePurgesAtStart: serve, as wired, purges the payloads past the
// default retention when it starts and records one frames_purged event.
func TestServePurgesAtStart(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, nil, "store", "migrate", "--data", dir)
	seedOldFrames(t, dir)
	g := startGateway(t, dir, []string{"--data", dir}, nil)
	ev := g.waitEvent(codes.FramesPurged, `"frames":3`)
	if !strings.Contains(string(ev.Body), `"via":"serve"`) {
		t.Fatalf("frames_purged: %s", ev.Body)
	}
	g.stop()
	purged := 0
	for _, f := range g.frames("T1") {
		if f.Purged() {
			purged++
		}
	}
	if purged != 3 {
		t.Fatalf("%d frames purged, want 3", purged)
	}
}

// TestRetentionPurgeCLI: 'retention purge' empties the payloads of frames
// older than the retention (default 90 days) and nothing newer, records
// one frames_purged event, and a second run purges nothing; bad --before
// values are usage errors.
func TestRetentionPurgeCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mustCLI(t, nil, "store", "migrate", "--data", dir)
	cfg := store.Config{DataDir: dir}
	seedOldFrames(t, dir)
	now := time.Now().UTC()

	if out := mustCLI(t, nil, "retention", "purge", "--data", dir); !strings.HasPrefix(out, "purged 3 frame payloads older than ") {
		t.Fatalf("first purge: %q", out)
	}
	if out := mustCLI(t, nil, "retention", "purge", "--data", dir); !strings.HasPrefix(out, "purged 0 frame payloads") {
		t.Fatalf("second purge: %q", out)
	}
	for _, bad := range []string{"yesterday", "-1h", "0s", now.Add(time.Hour).Format(time.RFC3339)} {
		if r := cli(t, nil, "retention", "purge", "--before", bad, "--data", dir); r.code != 2 || !strings.Contains(r.stderr, "--before") {
			t.Fatalf("--before %s: exit %d, %s", bad, r.code, r.stderr)
		}
	}

	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFrames(ctx, "T1", time.Time{}, now.Add(time.Hour), 0)
	if err != nil || len(fs) != 4 {
		t.Fatalf("frames: %d, %v", len(fs), err)
	}
	for _, f := range fs {
		if f.Purged() != (f.Seq < 3) || f.Purged() && len(f.Raw) != 0 {
			t.Fatalf("frame %d: purged %v, raw %d bytes", f.Seq, f.Purged(), len(f.Raw))
		}
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{Code: codes.FramesPurged, Limit: 10})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Body), `"frames":3`) || !strings.Contains(string(evs[0].Body), `"via":"cli"`) {
		t.Fatalf("frames_purged events: %d, %v", len(evs), err)
	}
}
