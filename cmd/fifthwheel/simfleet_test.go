package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// fleetEnv: the default heartbeat (1 s × 3 misses, the deadline 3 s),
// whose slack for late acks on a loaded machine is the largest.
var fleetEnv = []string{"FIFTHWHEEL_LOG_LEVEL=warn"}

// simFleet runs `sim fleet` against g and returns its result and, if it
// wrote one, its JSON report.
func simFleet(t *testing.T, g *gateway, args ...string) (cliResult, *sim.Report) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "fleet.json")
	args = append([]string{"sim", "fleet", "--summary-every", "2s", "--json", out}, args...)
	r := cli(t, g.env, append(args, g.state...)...)
	t.Logf("fifthwheel %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	b, err := os.ReadFile(out)
	if err != nil {
		return r, nil
	}
	var rep sim.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return r, &rep
}

// TestSimFleetCheckIsHonest: `sim fleet --check` refuses, before any truck
// runs, a scenario its configured faults fall outside of (5 trucks for 3 s
// with the default blackout 20 s in: it used to "pass" having measured
// nothing), and a fraction that selects no truck; a run whose blackout fits
// measures every row it configured and passes.
func TestSimFleetCheckIsHonest(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, fleetEnv)

	refused := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"default blackout past a 3s scenario", []string{"--vehicles", "5", "--duration", "3s", "--check"},
			[]string{"--blackout-at 20s", "--duration 3s"}},
		{"the same without --check", []string{"--vehicles", "5", "--duration", "3s"},
			[]string{"--blackout-at 20s"}},
		{"a fraction that selects no truck", []string{"--vehicles", "4", "--check"},
			[]string{"--blackout-fraction 0.1", "none of the 4 trucks"}},
		{"a blackout whose figures do not fit", []string{"--vehicles", "5", "--duration", "10s", "--blackout-at", "1s",
			"--blackout-for", "5s", "--check"}, []string{"--duration 10s", "16s"}},
		{"a blackout too short to be declared", []string{"--vehicles", "5", "--duration", "20s", "--blackout-at", "1s",
			"--blackout-for", "3s", "--check"}, []string{"--blackout-for 3s", "shorter than the deadline"}},
		// Without --check a blackout that does not fit is a warning; the
		// sensor fault that never happens is refused all the same.
		{"a warning, and a fault that never happens", []string{"--vehicles", "5", "--duration", "10s", "--blackout-at", "1s",
			"--blackout-for", "5s", "--gnss-jump-fraction", "0.2"}, []string{"warning: --duration 10s", "--sensor-fault-at 10s, --duration 10s"}},
		{"a sensor fault past the end", []string{"--vehicles", "5", "--duration", "5s", "--blackout-fraction", "0",
			"--gnss-jump-fraction", "0.2", "--check"}, []string{"--sensor-fault-at 10s"}},
	}
	for _, c := range refused {
		r, rep := simFleet(t, g, c.args...)
		if r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d (usage)", c.name, r.code, exitUsage)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr does not name %q:\n%s", c.name, w, r.stderr)
			}
		}
		if rep != nil || strings.Contains(r.stdout, "SLA") {
			t.Errorf("%s: a report was made; the run should have been refused before it started", c.name)
		}
	}

	// After the run: a scenario that starts before every truck drives
	// (--ready-timeout 1ms: no truck shakes hands and is resumed within a
	// millisecond of the last one's start) fails --check with the count.
	r, rep := simFleet(t, g, "--vehicles", "5", "--duration", "1s", "--blackout-fraction", "0", "--ready-timeout", "1ms", "--check")
	if rep == nil || rep.Ready >= rep.Eligible {
		t.Fatalf("expected a report with fewer than all trucks driving: %+v", rep)
	}
	if r.code != exitRuntime || !strings.Contains(r.stderr, "check failed: only ") || !strings.Contains(r.stderr, "of the 5 trucks expected to drive") {
		t.Errorf("not every truck drove: exit %d, want %d with the count:\n%s", r.code, exitRuntime, r.stderr)
	}

	// A blackout that fits: 1 s in, 5 s long (the gateway must declare it:
	// at least 3 s + 1 s), and the scenario long enough for the truck's
	// 15 s safe-state budget: 1 s + max(5 s + 3 s + 1 s, 15 s).
	r, rep = simFleet(t, g, "--vehicles", "3", "--duration", "16s", "--blackout-at", "1s", "--blackout-for", "5s",
		"--blackout-fraction", "0.34", "--check")
	if rep == nil {
		t.Fatalf("no report (exit %d)", r.code)
	}
	// Every row has data and all trucks drove. Whether each figure is
	// within its SLA is the machine's speed (a shared, loaded one can be
	// late: the tests in internal/sim hold the figures to margins), so an
	// over-limit row is logged, not failed; a row without data is failed.
	if len(rep.SLAs) != 5 {
		t.Errorf("%d SLA rows, want 5 (vehicle and gateway)", len(rep.SLAs))
	}
	for _, s := range rep.SLAs {
		switch {
		case s.N == 0 || s.Result == sim.NotApplicable || strings.HasPrefix(s.Reason, "no data"):
			t.Errorf("SLA %q: n %d, %s (%s): a fitting blackout must fill every row", s.Name, s.N, s.Result, s.Reason)
		case s.Result == sim.Fail:
			t.Logf("SLA %q over its limit on this machine: %s", s.Name, s.Reason)
		}
	}
	if rep.Ready != 3 || rep.Eligible != 3 {
		t.Errorf("%d of %d trucks drove, want 3 of 3", rep.Ready, rep.Eligible)
	}
	if r.code != 0 && (r.code != exitRuntime || rep.Ready != 3 || !rep.Failed()) {
		t.Errorf("sim fleet --check exited %d on a run that fits", r.code)
	}
}
