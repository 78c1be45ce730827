package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/drill"
)

// commandDrills are the command drills (issue 20).
var commandDrills = []string{"command-without-approvals", "command-self-approval", "tms-retry-executed-once"}

// commandPathDrills are the command drills between the gateway and the
// truck (issue 20).
var commandPathDrills = []string{"command-replay-to-vehicle", "command-for-another-vehicle", "command-expired-across-blackout"}

// runCommandDrills runs the command drills against the in-process gateway
// with hook applied to their target, expecting exit status 1 (a drill
// failed).
func runCommandDrills(t *testing.T, hook func(*drill.Target)) drill.Report {
	t.Helper()
	return runDrills(t, hook, commandDrills, exitRuntime)
}

// runDrills runs names against the in-process gateway with hook applied
// to their target, expecting exit status want.
func runDrills(t *testing.T, hook func(*drill.Target), names []string, want int) drill.Report {
	t.Helper()
	drillTargetHook = hook
	t.Cleanup(func() { drillTargetHook = nil })
	r := cli(t, nil, "drill", "--json", "--only", strings.Join(names, ","), "--event-wait", "300ms")
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestDrillCommandsFailWithoutTheirEvidence: against the real gateway
// each command drill's attack is refused, but with the events it reads
// back gone from the store (test-only hook: a gateway that decides
// without recording) each fails on its event check, every other check
// holding (the positive controls included: approved, the command reaches
// the truck once and is accepted).
func TestDrillCommandsFailWithoutTheirEvidence(t *testing.T) {
	rep := runCommandDrills(t, func(tg *drill.Target) {
		tg.Events = droppedEvents{l: tg.Events, codes: []string{codes.CommandCreated, codes.CommandApprovalRefusedSelf, codes.IdempotencyKeyReused}}
	})
	if rep.Summary.Fail != len(commandDrills) {
		t.Errorf("summary %+v, want the %d command drills failed", rep.Summary, len(commandDrills))
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

// TestDrillCommandsFailWhenNothingReachesTheTruck: with the drill trucks
// pinning a command key that is not the gateway's (test-only hook), every
// approved command is refused by the truck's agent and never reaches its
// AV stack: the drills whose positive control needs the command accepted
// and executed once fail on it (their truck-side checks are not
// vacuous), while the self-approval drill, which needs nothing to reach
// the truck, still passes.
func TestDrillCommandsFailWhenNothingReachesTheTruck(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	other := agent.GatewayCommandKey{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	rep := runCommandDrills(t, func(tg *drill.Target) { tg.GatewayCommandKeys = []agent.GatewayCommandKey{other} })
	want := map[string]string{
		"command-without-approvals": "positive control: the command after two approvals: want accepted",
		"tms-retry-executed-once":   "the command, approved: want accepted",
	}
	for _, d := range rep.Drills {
		w, ok := want[d.Name]
		switch {
		case !ok && d.Outcome != drill.Pass:
			t.Errorf("%s: %s (%s), want pass: nothing needs to reach the truck", d.Name, d.Outcome, d.Reason)
		case ok && (d.Outcome != drill.Fail || !strings.HasPrefix(d.Reason, w)):
			t.Errorf("%s: %s (%s), want fail: %s", d.Name, d.Outcome, d.Reason, w)
		}
	}
}

// TestDrillCommandPathPasses: against the real gateway the three
// command-path drills pass, each with its evidence.
func TestDrillCommandPathPasses(t *testing.T) {
	rep := runDrills(t, nil, commandPathDrills, exitOK)
	if rep.Summary.Pass != len(commandPathDrills) {
		t.Fatalf("summary %+v", rep.Summary)
	}
	for _, d := range rep.Drills {
		t.Logf("%s: %d checks, timings %+v", d.Name, len(d.Checks), d.Timings)
	}
}

// TestDrillCommandPathFailsWithoutTheirEvidence: with the gateway's
// record of what happened gone from its store (test-only hook: no
// command_delivered, vehicle_mismatch or command_expired events), each
// command-path drill fails on the gateway's record it reads: the replay
// drill on the delivery, the other-vehicle drill on the refusal of
// B's answer, the blackout drill on command_expired.
func TestDrillCommandPathFailsWithoutTheirEvidence(t *testing.T) {
	rep := runDrills(t, func(tg *drill.Target) {
		tg.Events = droppedEvents{l: tg.Events, codes: []string{codes.CommandDelivered, codes.VehicleMismatch, codes.CommandExpired}}
	}, commandPathDrills, exitRuntime)
	want := map[string]string{
		"command-replay-to-vehicle":       "security event in the gateway's store: want command_delivered",
		"command-for-another-vehicle":     "security event in the gateway's store: want vehicle_mismatch",
		"command-expired-across-blackout": "security event in the gateway's store: want command_expired",
	}
	for _, d := range rep.Drills {
		if d.Outcome != drill.Fail || !strings.HasPrefix(d.Reason, want[d.Name]) {
			t.Errorf("%s: %s (%s), want fail: %s", d.Name, d.Outcome, d.Reason, want[d.Name])
		}
	}
}

// TestDrillCommandForAnotherVehicleFailsWithoutSafeState: with trucks
// that only report a command failing authentication and keep driving
// (agent.Config.NoSafeStateOnCommandAttack, test-only hook), the
// other-vehicle drill fails on truck B's safe state and the replay drill
// on the replaying truck's; the blackout drill, which needs no safe
// state, still passes.
func TestDrillCommandForAnotherVehicleFailsWithoutSafeState(t *testing.T) {
	rep := runDrills(t, func(tg *drill.Target) {
		tg.TruckConfig = func(c *agent.Config) { c.NoSafeStateOnCommandAttack = true }
	}, commandPathDrills, exitRuntime)
	for _, d := range rep.Drills {
		switch {
		case d.Name == "command-for-another-vehicle":
			if d.Outcome != drill.Fail || !strings.HasPrefix(d.Reason, "truck B: began its safe-state maneuver: want yes") {
				t.Errorf("%s: %s (%s), want fail on truck B's safe state", d.Name, d.Outcome, d.Reason)
			}
		case d.Name == "command-replay-to-vehicle":
			if d.Outcome != drill.Fail || !strings.HasPrefix(d.Reason, "drill truck: began its safe-state maneuver: want yes") {
				t.Errorf("%s: %s (%s), want fail on the truck's safe state", d.Name, d.Outcome, d.Reason)
			}
		case d.Outcome != drill.Pass:
			t.Errorf("%s: %s (%s), want pass", d.Name, d.Outcome, d.Reason)
		}
	}
}
