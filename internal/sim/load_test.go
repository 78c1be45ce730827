package sim

import (
	"slices"
	"strings"
	"testing"
	"time"
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
