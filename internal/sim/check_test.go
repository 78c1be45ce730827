package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
)

// problemFields lists the problems as "group field outside".
func problemFields(ps []ScenarioProblem) []string {
	var out []string
	for _, p := range ps {
		s := p.Group + " " + p.Field
		if p.Outside {
			s += " outside"
		}
		out = append(out, s)
	}
	return out
}

// TestScenarioProblems: the faults a scenario cannot show are named, those
// entirely outside it (starting at or past its end, or on no truck) as
// such; a blackout that fits, with time for the gateway's declaration and
// the truck's safe-state budget, is none.
func TestScenarioProblems(t *testing.T) {
	blackout := func(at, d time.Duration) []FaultGroup {
		return []FaultGroup{{Name: "blackout", Fraction: 0.1, Faults: Faults{Blackout: Window{At: at, For: d}}}}
	}
	hb := Config{HeartbeatInterval: 500 * time.Millisecond, Misses: 3} // deadline 1.5 s
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		// The run: 5 trucks, 3 s, the default blackout 20 s in.
		{"blackout past the end", Config{Common: Common{Vehicles: 5}, Duration: 3 * time.Second, Faults: blackout(20*time.Second, 10*time.Second)},
			"blackout at outside"},
		{"blackout at the end", Config{Common: Common{Vehicles: 5}, Duration: 20 * time.Second, Faults: blackout(20*time.Second, 10*time.Second)},
			"blackout at outside"},
		{"no truck selected", Config{Common: Common{Vehicles: 4}, Duration: time.Minute, Faults: blackout(20*time.Second, 10*time.Second)},
			"blackout fraction outside"},
		{"blackout not over in time", Config{Common: Common{Vehicles: 10}, Duration: 30 * time.Second, Faults: blackout(20*time.Second, 10*time.Second)},
			"blackout duration"},
		{"blackout shorter than the deadline + 1 s", Config{Common: Common{Vehicles: 10}, HeartbeatInterval: hb.HeartbeatInterval, Misses: 3,
			Duration: time.Minute, Faults: blackout(time.Second, 2*time.Second)}, "blackout for"},
		{"fits", Config{Common: Common{Vehicles: 10}, HeartbeatInterval: hb.HeartbeatInterval, Misses: 3,
			Duration: 16 * time.Second, Faults: blackout(time.Second, 3*time.Second)}, ""},
		{"the default fits the default minute", Config{Common: Common{Vehicles: 10}, Duration: time.Minute, Faults: blackout(20*time.Second, 10*time.Second)}, ""},
		{"until SIGINT: only fractions", Config{Common: Common{Vehicles: 10}, Faults: blackout(20*time.Minute, 10*time.Second)}, ""},
		{"flapping past the end", Config{Common: Common{Vehicles: 10}, Duration: 5 * time.Second,
			Faults: []FaultGroup{{Name: "flap", Fraction: 0.1, Faults: Faults{FlapEvery: time.Second, FlapWindow: Window{At: 5 * time.Second}}}}}, "flap at outside"},
		{"flapping not over", Config{Common: Common{Vehicles: 10}, Duration: 5 * time.Second,
			Faults: []FaultGroup{{Name: "flap", Fraction: 0.1, Faults: Faults{FlapEvery: time.Second, FlapWindow: Window{At: time.Second, For: 5 * time.Second}}}}}, "flap for"},
		{"sensor fault past the end", Config{Common: Common{Vehicles: 10}, Duration: 5 * time.Second,
			Faults: []FaultGroup{{Name: "gnss-jump", Fraction: 0.1, Faults: Faults{GNSSJump: Window{At: 10 * time.Second, For: 10 * time.Second}}}}}, "gnss-jump at outside"},
		{"sensor fault not over", Config{Common: Common{Vehicles: 10}, Duration: 15 * time.Second,
			Faults: []FaultGroup{{Name: "speed", Fraction: 0.1, Faults: Faults{SpeedDisagreement: Window{At: 10 * time.Second, For: 10 * time.Second}}}}}, "speed for"},
		{"jitter on no truck", Config{Common: Common{Vehicles: 3}, Duration: 5 * time.Second,
			Faults: []FaultGroup{{Name: "link", Fraction: 0.1, Faults: Faults{Jitter: time.Millisecond}}}}, "link fraction outside"},
	}
	for _, c := range cases {
		got := strings.Join(problemFields(c.cfg.ScenarioProblems()), "; ")
		if got != c.want {
			t.Errorf("%s: problems %q, want %q (%v)", c.name, got, c.want, c.cfg.ScenarioProblems())
		}
	}
}

// New refuses a fault entirely outside the scenario, whoever runs it.
func TestNewRefusesFaultOutsideScenario(t *testing.T) {
	cfg := Config{Common: Common{Vehicles: 5, StateDir: t.TempDir(),
		Gateway: Target{URL: "https://127.0.0.1:1", CAPEM: []byte("x"), FrameKeys: []agent.GatewayFrameKey{{}}}}, Duration: 3 * time.Second,
		Faults: []FaultGroup{{Name: "blackout", Fraction: 0.1, Faults: Faults{Blackout: Window{At: 20 * time.Second, For: 10 * time.Second}}}}}
	_, err := New(cfg, Deps{Provisioner: &countingProvisioner{}})
	if err == nil || !strings.Contains(err.Error(), "never happens") {
		t.Fatalf("New: %v, want the blackout refused", err)
	}
	cfg.Faults[0].Faults.Blackout.At = time.Second
	cfg.Duration = 30 * time.Second
	if _, err := New(cfg, Deps{Provisioner: &countingProvisioner{}}); err != nil {
		t.Fatalf("New with the blackout inside: %v", err)
	}
}

// slaResults maps each row's name to its result.
func slaResults(r *Report) map[string]string {
	m := map[string]string{}
	for _, s := range r.SLAs {
		m[s.Name] = s.Result
	}
	return m
}

// A blackout was configured and the run measured nothing of it (no stop,
// no comm_lost, no blackout checked): each row it should have filled
// fails with "no data", and --check fails.
func TestReportNoDataFails(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	blackout := Faults{Blackout: Window{At: 20 * time.Second, For: 10 * time.Second}}
	trucks := []truckResult{{ID: "a", Faults: blackout}, {ID: "b"}}
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	r := buildReport(reportInput{cfg: cfg, started: start, t0: t0, end: t0.Add(3 * time.Second), ready: 2, eligible: 2,
		trucks: trucks, gw: newGatewayLog(nil), gwSource: "test"})
	want := map[string]string{
		"vehicle: last answered heartbeat → safe_state, from cruise": Fail,
		"vehicle: stops without a link outage":                       Pass,
		"gateway: last heartbeat → comm_lost":                        Fail,
		"gateway: false comm_lost":                                   Pass,
		"gateway: blackouts without comm_lost":                       Fail,
	}
	got := slaResults(r)
	for name, res := range want {
		if got[name] != res {
			t.Errorf("%s: %s, want %s", name, got[name], res)
		}
	}
	fails := r.CheckFailures()
	if len(fails) != 3 || !r.Failed() {
		t.Fatalf("check failures %q, want the 3 rows without data", fails)
	}
	for _, f := range fails {
		if !strings.Contains(f, "no data: ") {
			t.Errorf("failure %q does not say it had no data", f)
		}
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil || !strings.Contains(b.String(), "FAIL (no data: ") {
		t.Fatalf("table does not show the reason: %v\n%s", err, b.String())
	}
}

// Without a fault of their kind the rows are n/a and do not fail; a sensor
// fault that produced no finding fails its row.
func TestReportRowsNotApplicable(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	in := reportInput{cfg: cfg, started: start, t0: t0, end: t0.Add(30 * time.Second), ready: 2, eligible: 2,
		trucks: []truckResult{{ID: "a"}, {ID: "b"}}, gw: newGatewayLog(nil), gwSource: "test"}
	r := buildReport(in)
	for _, s := range r.SLAs {
		if s.Result == Fail {
			t.Errorf("%s failed (%s) with no fault configured", s.Name, s.Reason)
		}
	}
	got := slaResults(r)
	if got["vehicle: last answered heartbeat → safe_state, from cruise"] != NotApplicable || got["gateway: last heartbeat → comm_lost"] != NotApplicable {
		t.Errorf("rows without a fault of their kind: %v, want n/a", got)
	}
	if f := r.CheckFailures(); len(f) != 0 {
		t.Errorf("check failures %q on a healthy run", f)
	}

	// A GNSS jump and a speed fault: findings of the jump only leave the
	// speed fault without data.
	in.trucks[0].Faults.GNSSJump = Window{At: time.Second, For: 5 * time.Second}
	in.trucks[1].Faults.SpeedDisagreement = Window{At: time.Second, For: 5 * time.Second}
	const row = "gateway: plausibility findings on trucks without that fault"
	if res := slaResults(buildReport(in))[row]; res != Fail {
		t.Errorf("sensor faults without any finding: %q, want FAIL", res)
	}
	in.gw.evs[codes.PositionJump] = []gwEvent{{Code: codes.PositionJump, Vehicle: "a", Time: t0.Add(2 * time.Second)}}
	r = buildReport(in)
	for _, s := range r.SLAs {
		if s.Name == row && (s.Result != Fail || !strings.Contains(s.Reason, "no data: no speed_disagreement finding on the 1 trucks") ||
			strings.Contains(s.Reason, "position_jump")) {
			t.Errorf("only the GNSS jump found: %+v, want a failure for the speed fault alone", s)
		}
	}
	in.gw.evs[codes.SpeedDisagreement] = []gwEvent{{Code: codes.SpeedDisagreement, Vehicle: "b", Time: t0.Add(4 * time.Second)}}
	if res := slaResults(buildReport(in))[row]; res != Pass {
		t.Errorf("both sensor faults found on their trucks: %q, want pass", res)
	}
}

// Fewer trucks driving than expected when the scenario started, a scenario
// that never started, and no gateway figures each fail --check.
func TestReportCheckFailuresFleet(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	trucks := []truckResult{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	r := buildReport(reportInput{cfg: cfg, started: start, t0: t0, end: t0.Add(30 * time.Second), ready: 2, eligible: 3,
		trucks: trucks, gw: newGatewayLog(nil), gwSource: "test"})
	if f := r.CheckFailures(); len(f) != 1 || !strings.Contains(f[0], "only 2 of the 3 trucks") {
		t.Errorf("check failures %q, want the trucks not driving", f)
	}
	r = buildReport(reportInput{cfg: cfg, started: start, ready: 0, eligible: 3, trucks: trucks})
	if f := strings.Join(r.CheckFailures(), "; "); !strings.Contains(f, "did not start") || !strings.Contains(f, "gateway's figures were not measured") {
		t.Errorf("check failures %q, want the scenario not started and no gateway figures", f)
	}
}
