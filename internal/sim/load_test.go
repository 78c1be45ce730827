package sim

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestParseProcStat reads utime + stime from a /proc/PID/stat line whose
// command name holds spaces and parentheses (fields count from the last
// ')'), and refuses lines it cannot read rather than guess.
func TestParseProcStat(t *testing.T) {
	line := "4242 (fifth wheel) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 123 456 789\n"
	d, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 325 * time.Second / clockTicks; d != want {
		t.Errorf("got %v, want %v (utime 250 + stime 75 ticks)", d, want)
	}
	for _, bad := range []string{"", "4242 fifthwheel S 1", "4242 (fw) S 1 2 3", "4242 (fw) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 75"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q: read as a stat line", bad)
		}
	}
}

// TestLoadCheckFailures: --check fails on any failed request but a 429,
// on a rejected frame, on counts that do not add up and on a run that
// accepted nothing; 429s alone pass.
func TestLoadCheckFailures(t *testing.T) {
	ok := LoadReport{Sent: 192, Accepted: 128, FailedRequests: map[string]int64{"http 429 rate_limited": 1},
		FailedFrames: map[string]int64{"http 429 rate_limited": 64}}
	if f := ok.CheckFailures(); len(f) != 0 {
		t.Errorf("429s alone: %v", f)
	}
	cases := map[string]struct {
		r    LoadReport
		want string
	}{
		"503": {LoadReport{Sent: 128, Accepted: 64, FailedRequests: map[string]int64{"http 503 store_unavailable": 1},
			FailedFrames: map[string]int64{"http 503 store_unavailable": 64}}, "requests failed: http 503"},
		"timeout": {LoadReport{Sent: 128, Accepted: 64, FailedRequests: map[string]int64{"error: timeout": 1},
			FailedFrames: map[string]int64{"error: timeout": 64}}, "requests failed: error: timeout"},
		"rejected":    {LoadReport{Sent: 128, Accepted: 64, Rejected: map[string]int64{"replay": 64}}, "frames rejected"},
		"unaccounted": {LoadReport{Sent: 128, Accepted: 64}, "differ from the frames sent"},
		"nothing":     {LoadReport{}, "no frame was accepted"},
	}
	for name, c := range cases {
		f := c.r.CheckFailures()
		if !slices.ContainsFunc(f, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s: %v, want one naming %q", name, f, c.want)
		}
	}
}

// TestRetryAfter: the gateway's seconds, 1 s when absent or unreadable,
// capped.
func TestRetryAfter(t *testing.T) {
	for h, want := range map[string]time.Duration{"2": 2 * time.Second, "": time.Second, "soon": time.Second, "0": time.Second,
		"86400": maxRetryAfter} {
		if got := retryAfter(h); got != want {
			t.Errorf("Retry-After %q: %v, want %v", h, got, want)
		}
	}
}

// TestLoadConfigRefusals: NewLoad refuses what it cannot run.
func TestLoadConfigRefusals(t *testing.T) {
	base := LoadConfig{Common: Common{Vehicles: 2, Gateway: Target{URL: "https://127.0.0.1:1", CAPEM: []byte("x")}, StateDir: t.TempDir()},
		Duration: 10 * time.Second}
	if err := base.withDefaults().validate(); err != nil {
		t.Fatalf("a valid config refused: %v", err)
	}
	for name, mod := range map[string]func(*LoadConfig){
		"no vehicles":               func(c *LoadConfig) { c.Vehicles = 0 },
		"batch over the gateway's":  func(c *LoadConfig) { c.Batch = MaxLoadBatch + 1 },
		"two in flight per vehicle": func(c *LoadConfig) { c.Concurrency = 3 },
		"warm-up past the end":      func(c *LoadConfig) { c.Warmup = 10 * time.Second },
		"no duration":               func(c *LoadConfig) { c.Duration = 0 },
		"no state dir":              func(c *LoadConfig) { c.StateDir = "" },
	} {
		c := base
		mod(&c)
		if err := c.withDefaults().validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLoadReplayEvery: with ReplayEvery, a load against the in-package
// gateway sends replays (same (epoch, seq) as an accepted frame, other
// bytes, validly signed) that the gateway refuses replay and records as
// security events; they are counted apart from the frames, and --check
// passes because every one was refused replay. A replay the gateway took
// or answered otherwise would fail the check.
func TestLoadReplayEvery(t *testing.T) {
	st := storetest.OpenConfig(t, storetest.SQLiteConfig(t))
	g := startGateway(t, st, gwOptions{})
	const every = 10
	l, err := NewLoad(LoadConfig{Common: Common{Vehicles: 2, Gateway: g.target(), StateDir: t.TempDir(), SummaryEvery: -1},
		Duration: 1500 * time.Millisecond, Warmup: 100 * time.Millisecond, Batch: 8, CalibrateFor: 50 * time.Millisecond,
		ReplayEvery: every}, LoadDeps{Provisioner: g.provisioner(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rp := r.Replays
	if rp == nil || rp.Every != every {
		t.Fatalf("replays %+v, want a report with every %d", rp, every)
	}
	if rp.Sent == 0 || rp.Refused != rp.Sent || len(rp.Other) != 0 {
		t.Fatalf("replays %+v: want some sent, every one refused replay", rp)
	}
	// One per `every` accepted frames of a vehicle: at most Accepted/every
	// in all, and each vehicle's remainder is below every.
	if max, min := r.Accepted/every, r.Accepted/every-int64(r.Vehicles); rp.Sent > max || rp.Sent < min {
		t.Errorf("%d replays for %d accepted frames, want %d to %d", rp.Sent, r.Accepted, min, max)
	}
	if len(r.Rejected) != 0 || r.Sent != r.Accepted+r.RejectedFrames()+r.FailedFrameCount() {
		t.Errorf("the frames' accounting took in replays: sent %d, accepted %d, rejected %v", r.Sent, r.Accepted, r.Rejected)
	}
	if f := r.CheckFailures(); len(f) != 0 {
		t.Errorf("check failures: %v", f)
	}
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Code: codes.Replay, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(evs)) != rp.Sent {
		t.Errorf("%d replay events stored, want one per replay sent (%d)", len(evs), rp.Sent)
	}
}

// TestLoadCheckReplays: --check fails on a replay the gateway accepted or
// refused with another code, and on replay counts that do not add up;
// replays refused replay, and 429s, pass.
func TestLoadCheckReplays(t *testing.T) {
	base := LoadReport{Sent: 64, Accepted: 64}
	ok := base
	ok.Replays = &ReplayReport{Every: 10, Sent: 7, Refused: 6, Other: map[string]int64{"http 429 rate_limited": 1}}
	if f := ok.CheckFailures(); len(f) != 0 {
		t.Errorf("replays refused replay and a 429: %v", f)
	}
	for name, c := range map[string]struct {
		rp   ReplayReport
		want string
	}{
		"replay accepted":        {ReplayReport{Sent: 2, Refused: 1, Other: map[string]int64{"accepted": 1}}, "not refused replay: accepted"},
		"replay taken for stale": {ReplayReport{Sent: 1, Other: map[string]int64{"rejected stale_counter": 1}}, "rejected stale_counter"},
		"unaccounted":            {ReplayReport{Sent: 3, Refused: 1}, "differ from the replays sent"},
	} {
		r := base
		r.Replays = &c.rp
		f := r.CheckFailures()
		if !slices.ContainsFunc(f, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s: %v, want one naming %q", name, f, c.want)
		}
	}
}
