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

// seedIncidents stores, in dir's SQLite store, three incidents of vehicle
// T1: inc-old resolved 3 years ago, inc-open opened 5 years ago and never
// resolved, inc-recent opened 5 years ago and resolved yesterday.
func seedIncidents(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	for _, s := range []struct {
		id               string
		opened, resolved time.Time
	}{
		{"inc-old", now.AddDate(-3, -1, 0), now.AddDate(-3, 0, 0)},
		{"inc-open", now.AddDate(-5, 0, 0), time.Time{}},
		{"inc-recent", now.AddDate(-5, 0, 0), now.Add(-24 * time.Hour)},
	} {
		inc := store.Incident{ID: s.id, SubjectKind: "vehicle", Subject: "T1", Title: "telemetry replay", Severity: 3,
			OpenedAt: s.opened, UpdatedAt: s.opened, LastFindingAt: s.opened, RuleIDs: []string{"replay"}}
		f := store.IncidentFinding{ID: s.id + "-f", RuleID: "replay", FirstAt: s.opened, At: s.opened, Count: 1}
		clocks := []store.IncidentClock{{Kind: store.ClockInternal, DueAt: s.opened.Add(15 * time.Minute)}}
		if err := st.CreateIncident(ctx, inc, f, clocks, "urn:fifthwheel:system:gateway"); err != nil {
			t.Fatal(err)
		}
		if err := st.AddIncidentNote(ctx, store.IncidentNote{Incident: s.id, Actor: "urn:fifthwheel:operator:ann", At: s.opened, Text: "looking"}); err != nil {
			t.Fatal(err)
		}
		if s.resolved.IsZero() {
			continue
		}
		if _, err := st.TransitionIncident(ctx, store.IncidentTransition{Incident: s.id, From: store.IncidentOpen, To: store.IncidentResolved,
			At: s.resolved, Actor: "urn:fifthwheel:operator:ann", Reason: "false positive"}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// incidentIDs lists the incidents in dir's SQLite store.
func incidentIDs(t *testing.T, dir string) []string {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	incs, err := st.ListIncidents(context.Background(), store.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range incs {
		ids = append(ids, i.ID)
	}
	return ids
}

// TestServePurgesAtStart: serve, as wired, purges the payloads past the
// default retention and the incidents resolved more than the default
// incident retention ago when it starts, and records one frames_purged
// and one incidents_purged event.
func TestServePurgesAtStart(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, nil, "store", "migrate", "--data", dir)
	seedOldFrames(t, dir)
	seedIncidents(t, dir)
	g := startGateway(t, dir, []string{"--data", dir}, nil)
	ev := g.waitEvent(codes.FramesPurged, `"frames":3`)
	if !strings.Contains(string(ev.Body), `"via":"serve"`) {
		t.Fatalf("frames_purged: %s", ev.Body)
	}
	ev = g.waitEvent(codes.IncidentsPurged, `"incidents":1`)
	if !strings.Contains(string(ev.Body), `"via":"serve"`) {
		t.Fatalf("incidents_purged: %s", ev.Body)
	}
	g.stop()
	if got := strings.Join(incidentIDs(t, dir), ","); got != "inc-open,inc-recent" {
		t.Fatalf("incidents after serve's purge: %s, want inc-open,inc-recent", got)
	}
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

// TestRetentionPurgeCLIPurgesResolvedIncidents: 'retention purge' deletes
// the incidents resolved more than incidents.retention ago (default two
// years), never an unresolved one however old nor one resolved since, says
// so on a line of its own and records one incidents_purged event; with
// incidents.retention 0 it keeps them all, and --before (frame payloads'
// cut-off) does not reach incidents.
func TestRetentionPurgeCLIPurgesResolvedIncidents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mustCLI(t, nil, "store", "migrate", "--data", dir)
	seedIncidents(t, dir)

	keepForever := []string{"FIFTHWHEEL_INCIDENTS_RETENTION=0"}
	if out := mustCLI(t, keepForever, "retention", "purge", "--data", dir); !strings.Contains(out, "kept every resolved incident (incidents.retention is 0)\n") {
		t.Fatalf("purge with incidents.retention 0: %q", out)
	}
	if r := cli(t, []string{"FIFTHWHEEL_INCIDENTS_RETENTION=24h"}, "retention", "purge", "--data", dir); r.code != 2 || !strings.Contains(r.stderr, "incidents.retention") {
		t.Fatalf("incidents.retention 24h: exit %d, %s", r.code, r.stderr)
	}
	if got := len(incidentIDs(t, dir)); got != 3 {
		t.Fatalf("%d incidents after purges that must keep them, want 3", got)
	}
	out := mustCLI(t, nil, "retention", "purge", "--before", "1h", "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "purged 0 frame payloads older than ") ||
		!strings.HasPrefix(lines[1], "purged 1 incidents resolved before ") || !strings.HasSuffix(lines[1], "(unresolved ones kept)") {
		t.Fatalf("purge: a line per kind expected, got %q", out)
	}
	if got := strings.Join(incidentIDs(t, dir), ","); got != "inc-open,inc-recent" {
		t.Fatalf("incidents after the purge: %s, want inc-open,inc-recent", got)
	}
	if out := mustCLI(t, nil, "retention", "purge", "--data", dir); !strings.Contains(out, "\npurged 0 incidents resolved before ") {
		t.Fatalf("second purge: %q", out)
	}

	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(ctx, store.EventFilter{Code: codes.IncidentsPurged, Limit: 10})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Body), `"incidents":1`) || !strings.Contains(string(evs[0].Body), `"via":"cli"`) {
		t.Fatalf("incidents_purged events: %d, %v", len(evs), err)
	}
}
