package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/drill/drilltest"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// availableDrills counts the catalogue's drills that run.
func availableDrills() (n, na int) {
	for _, d := range drill.Catalogue() {
		if d.Run != nil {
			n++
		} else {
			na++
		}
	}
	return n, na
}

// concurrentDrills names the catalogue's drills that run concurrently
// (not Exclusive), and counts them.
func concurrentDrills() (names string, n int) {
	var out []string
	for _, d := range drill.Catalogue() {
		if d.Run != nil && !d.Exclusive {
			out = append(out, d.Name)
		}
	}
	return strings.Join(out, ","), len(out)
}

// TestDrillCommandAgainstTheGateway runs the catalogue's concurrent
// drills with `fifthwheel drill` against its in-process gateway: every
// one passes with evidence, the exit status is 0 and the JSON report
// written matches the published schema. The drills that run alone (the
// blackout, flapping, stall, flood and revocation drills: a minute of the
// catalogue's time) are run whole by TestDemoShortRun, which runs the
// entire catalogue through the same code, and each by its own red test
// here; running them twice made CI's critical path a minute longer.
func TestDrillCommandAgainstTheGateway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	only, n := concurrentDrills()
	r := cli(t, nil, "drill", "--report", dir, "--json", "--only", only)
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report (exit %d): %v\n%s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	na := 0
	// Tests assert no timing (a shared 2-core machine): a drill that
	// failed only because a measured time was over its SLA, every check
	// holding, is logged, not failed; `fifthwheel drill` itself does fail
	// it.
	slaOnly := 0
	for _, d := range rep.Drills {
		switch {
		case d.Outcome == drill.Pass && (len(d.Checks) < 2 || len(d.Events) == 0):
			t.Errorf("%s passed with %d checks and %d events: no evidence", d.Name, len(d.Checks), len(d.Events))
		case d.Outcome == drill.Fail && allHeld(d) && strings.Contains(d.Reason, "over its SLA"):
			slaOnly++
			t.Logf("%s: %s (timing only; not asserted here)", d.Name, d.Reason)
		case d.Outcome == drill.Fail:
			t.Errorf("%s failed: %s", d.Name, d.Reason)
		}
	}
	if rep.Summary.Pass+slaOnly != n || rep.Summary.NotAvailable != na {
		t.Errorf("summary %+v, want %d passed, %d not available", rep.Summary, n, na)
	}
	if want := map[bool]int{true: exitOK, false: exitRuntime}[slaOnly == 0]; r.code != want {
		t.Errorf("exit %d, want %d\nstderr: %s", r.code, want, r.stderr)
	}
	validateReport(t, filepath.Join(dir, drill.JSONReportName))
	if _, err := os.Stat(filepath.Join(dir, drill.HTMLReportName)); err != nil {
		t.Errorf("no HTML report: %v", err)
	}
}

// allHeld reports whether every check of d held.
func allHeld(d drill.Result) bool {
	for _, c := range d.Checks {
		if !c.OK {
			return false
		}
	}
	return len(d.Checks) > 0
}

// TestDrillCommandFailsAgainstAGatewayWithoutItsChecks: with the target
// replaced (test-only hook) by a gateway that accepts TLS 1.2, any client
// certificate and every frame, every available drill fails and the exit
// status is 1.
func TestDrillCommandFailsAgainstAGatewayWithoutItsChecks(t *testing.T) {
	fake := drilltest.Start(t, drilltest.AcceptAll, nil)
	drillTargetHook = func(tg *drill.Target) { *tg = *fake.Target() }
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("drill against a gateway without checks: exit %d, want %d\nstderr: %s", r.code, exitRuntime, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	n, _ := availableDrills()
	if rep.Summary.Fail != n || rep.Summary.Pass != 0 {
		t.Errorf("summary %+v, want all %d available drills failed", rep.Summary, n)
	}
	if !strings.Contains(r.stderr, "drill(s) failed") {
		t.Errorf("stderr does not say drills failed: %s", r.stderr)
	}
}

// TestDrillOnly: --only runs the named drills; an unknown name is a usage
// error.
func TestDrillOnly(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "drill", "--only", "no-such-drill")
	if r.code != exitUsage {
		t.Errorf("unknown drill: exit %d, want %d (%s)", r.code, exitUsage, r.stderr)
	}
	r = cli(t, nil, "drill", "--json", "--only", "clock-skew", "--only", "detection-rules")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Drills) != 2 || rep.Summary.Pass != 2 {
		t.Errorf("--only clock-skew --only detection-rules ran %+v", rep.Summary)
	}
}

// validateReport validates a JSON report file against the published
// schema.
func validateReport(t *testing.T, path string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("..", "..", "docs", "drill-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
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

// alteredEvents is the gateway's event store as a gateway whose
// comm-loss detection is broken would have filled it: alter rewrites or
// drops (false) each comm_lost row.
type alteredEvents struct {
	l     sim.EventLister
	alter func(*store.EventRow) bool
}

func (a alteredEvents) ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventRow, error) {
	rows, err := a.l.ListEvents(ctx, f)
	var out []store.EventRow
	for _, r := range rows {
		if r.Code != codes.CommLost || a.alter(&r) {
			out = append(out, r)
		}
	}
	return out, err
}

// TestDrillBlackoutFailsWithoutDetection: the blackout drill fails when
// the gateway declares no comm_lost, and when it declares it late (its
// event 1 s later than the real one: beyond the 3.2 s SLA).
func TestDrillBlackoutFailsWithoutDetection(t *testing.T) {
	for name, alter := range map[string]func(*store.EventRow) bool{
		"never_declared": func(*store.EventRow) bool { return false },
		"declared_late": func(r *store.EventRow) bool {
			r.Time = r.Time.Add(time.Second)
			return true
		},
	} {
		t.Run(name, func(t *testing.T) {
			drillTargetHook = func(tg *drill.Target) { tg.Events = alteredEvents{l: tg.Events, alter: alter} }
			t.Cleanup(func() { drillTargetHook = nil })
			r := cli(t, nil, "drill", "--json", "--only", "heartbeat-blackout", "--event-wait", "300ms")
			if r.code != exitRuntime {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
			}
			var rep drill.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Summary.Fail != 1 {
				t.Errorf("summary %+v, want the blackout drill failed", rep.Summary)
			}
			t.Logf("reason: %s", rep.Drills[0].Reason)
		})
	}
}

// TestDrillAgainstARunningGateway: with --data the drills attack the
// gateway `serve --dev --data DIR` runs, its vehicle and TMS listeners
// found through DIR/serve.addrs, and read its events from its store.
func TestDrillAgainstARunningGateway(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	startGateway(t, data, []string{"--data", data}, nil)
	r := cli(t, nil, "drill", "--data", data, "--json", "--only", "telemetry-replay,tls12-refused,wrong-profile-certificate,tms-token-bound-to-another-certificate")
	if r.code != 0 {
		t.Fatalf("drill --data: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Pass != 4 || !strings.HasPrefix(rep.Target, "running gateway at https://") {
		t.Errorf("summary %+v against %q", rep.Summary, rep.Target)
	}
	if r := cli(t, nil, "drill", "--gateway", "127.0.0.1:1"); r.code != exitUsage {
		t.Errorf("--gateway without --data: exit %d, want %d", r.code, exitUsage)
	}
	if r := cli(t, nil, "drill", "--gateway-tms", "127.0.0.1:1"); r.code != exitUsage {
		t.Errorf("--gateway-tms without --data: exit %d, want %d", r.code, exitUsage)
	}
}

// TestDrillAgainstARunningGatewayByItsStore: with --store URL (PostgreSQL)
// instead of --data, plus the CA's directory and key-encryption key and
// the listeners' addresses, as an operator of a gateway whose state is
// not in a local data directory runs it, the drills attack that gateway
// and read their outcomes from its store.
func TestDrillAgainstARunningGatewayByItsStore(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresConfig(t).URL
	g := pgGateway(t, url, nil)
	env := []string{config.EnvPrefix + "PKI_DIR=" + g.pkiDir()}
	rep := drillReport(t, env, exitOK, "--store", url, "--kek-file", g.kekFile(),
		"--gateway", g.addrs.Vehicle, "--gateway-tms", g.addrs.TMS,
		"--only", "telemetry-replay,replay-opens-incident,tms-token-bound-to-another-certificate")
	if rep.Summary.Pass != 3 || !strings.HasPrefix(rep.Target, "running gateway at https://"+g.addrs.Vehicle) {
		t.Errorf("summary %+v against %q", rep.Summary, rep.Target)
	}
}

// TestDrillWheelGNSSFollowsTheGatewaysPlausibilitySettings: against a
// gateway run with plausibility.speed_disagree_frames 5 (not the default
// 3), the wheel/GNSS drill reads that setting from the gateway's
// configuration, sends five disagreeing frames, sees no finding on the
// first four and the finding on the fifth, and passes.
func TestDrillWheelGNSSFollowsTheGatewaysPlausibilitySettings(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	env := []string{"FIFTHWHEEL_PLAUSIBILITY_SPEED_DISAGREE_FRAMES=5"}
	startGateway(t, data, []string{"--data", data}, env)
	r := cli(t, env, "drill", "--data", data, "--json", "--only", "wheel-gnss-disagreement")
	if r.code != 0 {
		t.Fatalf("drill --data: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Drills) != 1 || rep.Drills[0].Outcome != drill.Pass {
		t.Fatalf("report %+v, want wheel-gnss-disagreement passed", rep.Drills)
	}
	frames := 0
	for _, c := range rep.Drills[0].Checks {
		if strings.HasPrefix(c.What, "frame ") {
			frames++
			if want := fmt.Sprintf("frame %d of 5,", frames); !strings.HasPrefix(c.What, want) {
				t.Errorf("check %q, want it to start %q", c.What, want)
			}
		}
	}
	if frames != 5 {
		t.Errorf("%d frames checked, want 5 (the gateway's speed_disagree_frames)", frames)
	}
}

// TestDrillRevokedFailsWhenRevocationDoesNothing: with the revocation
// replaced by one that changes nothing (test-only hook), the truck's
// session stays open and its certificate keeps opening the listener: the
// revocation drill fails, exit status 1.
func TestDrillRevokedFailsWhenRevocationDoesNothing(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.Revoke = func(context.Context, string) error { return nil }
	}
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", "revoked-vehicle", "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Fail != 1 || !strings.Contains(rep.Drills[0].Reason, "still open") {
		t.Errorf("summary %+v, reason %q: want the revocation drill failed on the open session", rep.Summary, rep.Drills[0].Reason)
	}
}

// TestDrillRevocationRacingRenewalFailsWhenRevocationDoesNothing: with
// the revocation replaced by one that changes nothing (test-only hook),
// the certificates the renewers hold keep opening the listener after
// revocation + 1 s: the drill fails, exit status 1.
func TestDrillRevocationRacingRenewalFailsWhenRevocationDoesNothing(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.Revoke = func(context.Context, string) error { return nil }
	}
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", "revocation-racing-renewal", "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Fail != 1 || !strings.Contains(rep.Drills[0].Reason, "at revocation + 1 s: want refused") {
		t.Errorf("summary %+v, reason %q: want the drill failed on a certificate still admitted", rep.Summary, rep.Drills[0].Reason)
	}
}

// droppedEvents is the gateway's event store without the rows of some
// codes: what a gateway that refuses without recording would have kept.
type droppedEvents struct {
	l     sim.EventLister
	codes []string
}

func (d droppedEvents) ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventRow, error) {
	rows, err := d.l.ListEvents(ctx, f)
	var out []store.EventRow
	for _, r := range rows {
		if !slices.Contains(d.codes, r.Code) {
			out = append(out, r)
		}
	}
	return out, err
}

// TestDrillCACertificateAsClientFailsWithoutItsEvidence: against the real
// gateway, the CA-flagged certificate is refused, but with its
// cert_profile_mismatch event gone from the store (test-only hook) the
// drill fails on the event check, exit status 1. (That a gateway
// admitting the certificate fails it is drilltest's AcceptAll, in
// TestDrillCommandFailsAgainstAGatewayWithoutItsChecks: the real gateway
// has no switch to admit it.)
func TestDrillCACertificateAsClientFailsWithoutItsEvidence(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.Events = droppedEvents{l: tg.Events, codes: []string{codes.CertProfileMismatch}}
	}
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", "ca-certificate-as-client", "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Drills[0]
	if rep.Summary.Fail != 1 || !strings.Contains(d.Reason, "security event") {
		t.Errorf("summary %+v, reason %q: want the drill failed on the event check", rep.Summary, d.Reason)
	}
	for _, c := range d.Checks {
		if strings.HasPrefix(c.What, "handshake") && !c.OK {
			t.Errorf("the gateway admitted the CA certificate: %+v", c)
		}
	}
}

// tmsDrills are the TMS access drills (issue 19).
var tmsDrills = []string{"tms-stolen-token-without-certificate", "tms-token-bound-to-another-certificate",
	"tms-revoked-client-live-token", "tms-cross-carrier-read"}

// TestDrillTMSAccessFailsWithoutItsEvidence: against the real gateway,
// each TMS access attack is refused, but with the refusals' events gone
// from the store (test-only hook: a gateway that refuses without
// recording) each drill fails on its event check, its other checks
// holding, exit status 1. (That a gateway admitting the attacks fails
// them is drilltest's AcceptAll, in
// TestDrillCommandFailsAgainstAGatewayWithoutItsChecks.)
func TestDrillTMSAccessFailsWithoutItsEvidence(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.Events = droppedEvents{l: tg.Events, codes: []string{codes.ClientCertificateRequired, codes.AccessTokenBindingMismatch,
			codes.TLSCertRevoked, codes.AccessTokenPrincipalInactive, codes.AccessOtherCarrier}}
	}
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", strings.Join(tmsDrills, ","), "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Fail != len(tmsDrills) {
		t.Errorf("summary %+v, want the %d TMS access drills failed", rep.Summary, len(tmsDrills))
	}
	for _, d := range rep.Drills {
		if !strings.Contains(d.Reason, "security event") {
			t.Errorf("%s: reason %q, want the event check", d.Name, d.Reason)
		}
		for _, c := range d.Checks {
			if !c.OK && !strings.Contains(c.What, "security event") {
				t.Errorf("%s: check %+v failed against the real gateway", d.Name, c)
			}
		}
	}
}

// TestDrillTMSRevokedClientFailsWhenRevocationDoesNothing: with the
// client revocation replaced by one that changes nothing (test-only
// hook), the revoked client's token keeps reading: the drill fails on the
// token still admitted, exit status 1.
func TestDrillTMSRevokedClientFailsWhenRevocationDoesNothing(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.RevokeClient = func(context.Context, string) error { return nil }
	}
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", "tms-revoked-client-live-token", "--event-wait", "300ms")
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Fail != 1 || !strings.Contains(rep.Drills[0].Reason, "want refused, got admitted: 200") {
		t.Errorf("summary %+v, reason %q: want the drill failed on the token still admitted", rep.Summary, rep.Drills[0].Reason)
	}
}
