package drill_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/drill/drilltest"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
)

// needSession is the drills that need a live agent session with the
// gateway (a drill truck on the agent SDK), which the fake does not
// speak: against it they fail at their set-up (TestSessionDrillsFailAgainstTheFake).
// cmd/fifthwheel proves that each fails against the real gateway with its
// check defeated: TestDrillBlackoutFailsWithoutDetection,
// TestDrillRevokedFailsWhenRevocationDoesNothing,
// TestDrillFlappingFailsWithoutTheResumeHoldDown,
// TestDrillHandshakeStallFailsWithoutPerSourceAdmission and
// TestDrillEventFloodFailsWithoutAggregation; the command drills by
// TestDrillCommandsFailWithoutTheirEvidence (and the command-path drills
// by TestDrillCommandPath...). The audit-log-tampering drill needs the
// gateway's database, which the fake does not have either:
// TestDrillAuditLogTamperingFailsWithAVerifierThatIgnoresFindings. The
// detection drills need the gateway's incidents and event stream:
// TestDrillDetectionFailsWithDetectionOff,
// TestDrillContainmentFailsWhenContainmentDoesNothing and
// TestDrillSIEMFails....
var needSession = map[string]bool{"audit-log-tampering": true,
	"replay-opens-incident": true, "detection-rules": true, "incident-containment": true, "incident-reaches-siem": true, "heartbeat-blackout": true, "revoked-vehicle": true, "reconnection-flapping": true,
	"handshake-stall": true, "unauthenticated-event-flood": true,
	"command-without-approvals": true, "command-self-approval": true, "tms-retry-executed-once": true,
	"command-replay-to-vehicle": true, "command-for-another-vehicle": true, "command-expired-across-blackout": true}

// available is the catalogue's drills that run against the fake gateway:
// all but those that need a live agent session.
func available(t *testing.T) []drill.Drill {
	var out []drill.Drill
	for _, d := range drill.Catalogue() {
		if d.Run != nil && !needSession[d.Name] {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no drill is available")
	}
	return out
}

// TestEveryDrillFailsAgainstAGatewayThatAcceptsEverything: against a
// gateway with every targeted check disabled (TLS 1.2 and any client
// certificate admitted, every frame accepted, no event), every available
// drill fails, and on its attack, not on its set-up.
func TestEveryDrillFailsAgainstAGatewayThatAcceptsEverything(t *testing.T) {
	g := drilltest.Start(t, drilltest.AcceptAll, nil)
	res := drill.Run(context.Background(), g.Target(), available(t), drill.Config{Timeout: 10 * time.Second, EventWait: 100 * time.Millisecond})
	for _, r := range res {
		if r.Outcome != drill.Fail {
			t.Errorf("%s: %s against a gateway that accepts everything, want fail", r.Name, r.Outcome)
			continue
		}
		first := firstFailed(r)
		if first == nil || strings.HasPrefix(first.What, "set-up") || strings.Contains(first.What, "security event") {
			t.Errorf("%s failed, but not on its attack: %+v (reason %q)", r.Name, first, r.Reason)
		}
	}
}

// TestEveryDrillFailsWhenTheGatewayRecordsNoEvent: a gateway that refuses
// each attack with exactly the right code but records no security event
// (or accepts a plausibility drill's frame with exactly the right
// finding) but records no security event fails every drill, on the event
// check.
func TestEveryDrillFailsWhenTheGatewayRecordsNoEvent(t *testing.T) {
	// The right answer for each drill's attack frame, by the drill name
	// in its vehicles' ids (drill-<name>-<hex>); set-up frames accepted.
	refuse := func(id string, n int) string {
		switch {
		case strings.HasPrefix(id, "drill-telemetry-replay-") && n > 0,
			strings.HasPrefix(id, "drill-forensic-bundle-") && n > 0, strings.HasPrefix(id, "drill-tampered-bundle-") && n > 0:
			return codes.Replay
		case strings.HasPrefix(id, "drill-tamper-") && n > 0:
			return string(frame.CodeBadSignature)
		case strings.HasPrefix(id, "drill-rollback-") && n > 0:
			return codes.StaleCounter
		case strings.HasPrefix(id, "drill-epoch-") && n > 0:
			return codes.EpochNotAuthorized
		case strings.HasPrefix(id, "drill-mismatch-"):
			return codes.VehicleMismatch
		case strings.HasPrefix(id, "drill-noncanonical-"):
			return string(frame.CodeNotCanonical)
		case strings.HasPrefix(id, "drill-skew-"):
			return codes.ClockSkew
		}
		return ""
	}
	// The plausibility drills' frames are accepted with their finding:
	// the jump on the second frame, the disagreement on the last of the
	// default run (the fake's target names no plausibility settings).
	findings := func(id string, n int) []string {
		switch {
		case strings.HasPrefix(id, "drill-gnss-jump-") && n == 1:
			return []string{codes.PositionJump}
		case strings.HasPrefix(id, "drill-wheel-gnss-") && n == plausibility.DefaultSpeedDisagreeFrames-1:
			return []string{codes.SpeedDisagreement}
		}
		return nil
	}
	g := drilltest.Start(t, drilltest.RefuseSilently, refuse)
	g.SetFindings(findings)
	res := drill.Run(context.Background(), g.Target(), available(t), drill.Config{Timeout: 15 * time.Second, EventWait: 100 * time.Millisecond})
	for _, r := range res {
		if r.Outcome != drill.Fail {
			t.Errorf("%s: %s against a gateway that records no event, want fail", r.Name, r.Outcome)
			continue
		}
		if first := firstFailed(r); first == nil || !strings.Contains(first.What, "security event") {
			t.Errorf("%s failed, but not on the event check: %+v (reason %q)", r.Name, first, r.Reason)
		}
		for _, c := range r.Checks {
			if !strings.Contains(c.What, "security event") && !c.OK {
				t.Errorf("%s: check %q failed against a gateway answering rightly: %+v", r.Name, c.What, c)
			}
		}
	}
}

// TestSessionDrillsFailAgainstTheFake: the drills that need a live agent
// session fail against the fake, in either mode, saying why: it gives no
// gateway frame keys, heartbeat settings or revocation for a truck.
func TestSessionDrillsFailAgainstTheFake(t *testing.T) {
	var drills []drill.Drill
	for _, d := range drill.Catalogue() {
		if needSession[d.Name] {
			drills = append(drills, d)
		}
	}
	if len(drills) != len(needSession) {
		t.Fatalf("%d of the %d session drills are in the catalogue", len(drills), len(needSession))
	}
	for _, mode := range []drilltest.Mode{drilltest.AcceptAll, drilltest.RefuseSilently} {
		g := drilltest.Start(t, mode, nil)
		for _, r := range drill.Run(context.Background(), g.Target(), drills, drill.Config{Timeout: 10 * time.Second, EventWait: 100 * time.Millisecond}) {
			if r.Outcome != drill.Fail || !strings.HasPrefix(r.Reason, "the target ") {
				t.Errorf("mode %d, %s: %s (%s), want fail: the target lacks what the drill needs", mode, r.Name, r.Outcome, r.Reason)
			}
		}
	}
}

// TestAttackDrillsNeedASecondSource: against a gateway that is not on
// loopback, the drills attacking from a host without a certificate fail
// at once, asking for an attack source, and with an attack source that is
// not an address, saying so; nothing is dialed.
func TestAttackDrillsNeedASecondSource(t *testing.T) {
	drills, err := drill.Select(drill.Catalogue(), []string{"handshake-stall", "unauthenticated-event-flood"})
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{"": "attack source", "not-an-ip": "not an IP address"} {
		tg := &drill.Target{URL: "https://192.0.2.1:8443", MaxPendingHandshakesPerSource: 256,
			AggregateWindow: 10 * time.Second, AttackSource: src}
		for _, r := range drill.Run(context.Background(), tg, drills, drill.Config{Timeout: 5 * time.Second}) {
			if r.Outcome != drill.Fail || !strings.Contains(r.Reason, want) {
				t.Errorf("attack source %q, %s: %s (%s), want fail naming %q", src, r.Name, r.Outcome, r.Reason, want)
			}
		}
	}
}

func firstFailed(r drill.Result) *drill.Check {
	for i := range r.Checks {
		if !r.Checks[i].OK {
			return &r.Checks[i]
		}
	}
	return nil
}

// TestJudge: a drill passes only with at least one check, all held,
// every timing within its SLA, and no error.
func TestJudge(t *testing.T) {
	run := func(fn func(ctx context.Context, _ *drill.Target, p *drill.Probe) error) drill.Result {
		return drill.Run(context.Background(), &drill.Target{}, []drill.Drill{{Name: "x", Run: fn}}, drill.Config{})[0]
	}
	cases := []struct {
		name string
		fn   func(ctx context.Context, _ *drill.Target, p *drill.Probe) error
		want drill.Outcome
	}{
		{"measured_nothing", func(context.Context, *drill.Target, *drill.Probe) error { return nil }, drill.Fail},
		{"one_check_failed", func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
			p.Check("a", "x", "x")
			p.Check("b", "x", "y")
			return nil
		}, drill.Fail},
		{"error_after_passing_checks", func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
			p.Check("a", "x", "x")
			return errors.New("broken")
		}, drill.Fail},
		{"over_its_sla", func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
			p.Check("a", "x", "x")
			p.Timing("t", 2*time.Second, time.Second)
			return nil
		}, drill.Fail},
		{"panicked", func(context.Context, *drill.Target, *drill.Probe) error { panic("boom") }, drill.Fail},
		{"held", func(_ context.Context, _ *drill.Target, p *drill.Probe) error {
			p.Check("a", "x", "x")
			p.Timing("t", time.Second, 2*time.Second)
			return nil
		}, drill.Pass},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := run(c.fn); r.Outcome != c.want {
				t.Errorf("outcome %s (%s), want %s", r.Outcome, r.Reason, c.want)
			}
		})
	}
}

// TestTimeoutFails: a drill still running at its timeout fails.
func TestTimeoutFails(t *testing.T) {
	r := drill.Run(context.Background(), &drill.Target{}, []drill.Drill{{Name: "slow",
		Run: func(ctx context.Context, _ *drill.Target, p *drill.Probe) error {
			p.Check("a", "x", "x")
			<-ctx.Done()
			return ctx.Err()
		}}}, drill.Config{Timeout: 50 * time.Millisecond})[0]
	if r.Outcome != drill.Fail || !strings.Contains(r.Reason, "timed out") {
		t.Errorf("outcome %s (%s), want fail: timed out", r.Outcome, r.Reason)
	}
}

// TestNotAvailableDrills: every drill of the catalogue runs (the
// detection drills of issue 22 were the last listed as not available); a
// drill whose capability has not landed (Run nil, its issue named) is
// reported not_available, never run, and fails nothing.
func TestNotAvailableDrills(t *testing.T) {
	for _, d := range drill.Catalogue() {
		if d.Run == nil {
			t.Errorf("%s is not available (issue %d): every capability the catalogue names has landed", d.Name, d.Issue)
		} else if d.Issue != 0 {
			t.Errorf("%s runs but names issue %d", d.Name, d.Issue)
		}
	}
	na := []drill.Drill{{Name: "future-capability", Control: "x", Asset: "x", Actor: "x", Vector: "x", Checklist: "x", Issue: 99}}
	for _, r := range drill.Run(context.Background(), &drill.Target{}, na, drill.Config{}) {
		if r.Outcome != drill.NotAvailable || len(r.Checks) != 0 || !strings.Contains(r.Reason, "issue 99") {
			t.Errorf("%s: %s (%s) with %d checks, want not_available naming its issue, with none", r.Name, r.Outcome, r.Reason, len(r.Checks))
		}
	}
	rep := drill.NewReport("x", time.Now(), time.Now(), drill.Run(context.Background(), &drill.Target{}, na, drill.Config{}))
	if rep.Failed() || rep.Summary.Pass != 0 || rep.Summary.NotAvailable != len(na) {
		t.Errorf("summary %+v for %d drills not available", rep.Summary, len(na))
	}
}

// TestCatalogueIsDescribed: every drill names its control, threat-model
// asset, actor and vector and a checklist item, under a unique name.
func TestCatalogueIsDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range drill.Catalogue() {
		if seen[d.Name] {
			t.Errorf("two drills named %s", d.Name)
		}
		seen[d.Name] = true
		if d.Control == "" || d.Asset == "" || d.Actor == "" || d.Vector == "" || d.Checklist == "" {
			t.Errorf("%s is not fully described: %+v", d.Name, d)
		}
	}
	if _, err := drill.Select(drill.Catalogue(), []string{"no-such-drill"}); err == nil {
		t.Error("selecting an unknown drill succeeded")
	}
}

// TestReportMatchesSchema: a report of real results (failed ones with
// their evidence, not-available ones) validates against the published
// schema, and the schema refuses a report claiming a pass without checks.
func TestReportMatchesSchema(t *testing.T) {
	g := drilltest.Start(t, drilltest.AcceptAll, nil)
	res := drill.Run(context.Background(), g.Target(), drill.Catalogue(), drill.Config{Timeout: 10 * time.Second, EventWait: 100 * time.Millisecond})
	rep := drill.NewReport("drilltest", time.Now(), time.Now(), res)
	rep.Fleet = drill.FleetFrom(sampleFleet())
	dir := t.TempDir()
	jp, hp, err := rep.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	sch := CompileSchema(t)
	ValidateFile(t, sch, jp)

	var doc map[string]any
	b, _ := os.ReadFile(jp)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	d0 := doc["drills"].([]any)[0].(map[string]any)
	d0["outcome"], d0["checks"] = "pass", []any{}
	if err := sch.Validate(doc); err == nil {
		t.Error("the schema accepts a pass that recorded no check")
	}
	d0["outcome"], d0["checks"] = "fail", []any{}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("the schema refuses a failed drill: %v", err)
	}
	fig := doc["fleet"].(map[string]any)["figures"].([]any)[0].(map[string]any)
	fig["outcome"] = "FAIL" // sim's spelling, not the report's
	if err := sch.Validate(doc); err == nil {
		t.Error("the schema accepts a fleet figure with an outcome outside its enum")
	}
	fig["outcome"] = "not_applicable" // with samples
	if err := sch.Validate(doc); err == nil {
		t.Error("the schema accepts a fleet figure not applicable with samples")
	}

	html, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	if pg := readHTML(t, html); pg.elems["svg"] == 0 {
		t.Error("the HTML report has no timing chart")
	}
}

// CompileSchema compiles docs/drill-report.schema.json.
func CompileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("..", "..", "docs", "drill-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// ValidateFile validates the JSON file at path against sch.
func ValidateFile(t testing.TB, sch *jsonschema.Schema, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("%s does not match the schema: %v", path, err)
	}
}
