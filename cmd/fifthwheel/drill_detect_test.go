package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/drill"
)

// drillReport runs `fifthwheel drill --json` with args and returns its
// report, checking the exit status is want.
func drillReport(t *testing.T, env []string, want int, args ...string) drill.Report {
	t.Helper()
	r := cli(t, env, append([]string{"drill", "--json"}, args...)...)
	if r.code != want {
		t.Fatalf("drill %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, want, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.stdout)
	}
	return rep
}

// failedOn checks every drill of rep failed, its reason containing the
// reason given for it.
func failedOn(t *testing.T, rep drill.Report, reasons map[string]string) {
	t.Helper()
	if len(rep.Drills) != len(reasons) {
		t.Fatalf("%d drills ran, want %d", len(rep.Drills), len(reasons))
	}
	for _, d := range rep.Drills {
		if d.Outcome != drill.Fail || !strings.Contains(d.Reason, reasons[d.Name]) {
			t.Errorf("%s: %s (%q), want fail on %q", d.Name, d.Outcome, d.Reason, reasons[d.Name])
		}
	}
}

// TestDrillDetectionFailsWithDetectionOff: against a gateway that refuses
// every attack but runs no detection (detect.enabled: false), the
// detection drills fail on the missing incident. (Their passing run is
// TestDrillCommandAgainstTheGateway's whole catalogue.)
func TestDrillDetectionFailsWithDetectionOff(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	env := []string{config.EnvPrefix + "DETECT_ENABLED=false"}
	startGateway(t, data, []string{"--data", data}, env)
	rep := drillReport(t, env, exitRuntime, "--data", data, "--event-wait", "300ms",
		"--only", "replay-opens-incident,detection-rules,incident-containment")
	failedOn(t, rep, map[string]string{
		"replay-opens-incident": "an incident about the vehicle with the frame-replay finding: want opened, got none",
		"detection-rules":       "an incident about the vehicle with the frame-signature-failures finding: want opened, got none",
		"incident-containment":  "an incident about the vehicle with the frame-replay finding: want opened, got none"})
}

// TestDrillContainmentFailsWhenContainmentDoesNothing: with the
// incident's containment replaced (test-only hook) by one that does
// nothing, the truck's session stays open and the drill fails.
func TestDrillContainmentFailsWhenContainmentDoesNothing(t *testing.T) {
	drillTargetHook = func(tg *drill.Target) {
		tg.Detection.Contain = func(context.Context, string, string) error { return nil }
	}
	t.Cleanup(func() { drillTargetHook = nil })
	rep := drillReport(t, nil, exitRuntime, "--only", "incident-containment", "--event-wait", "300ms")
	failedOn(t, rep, map[string]string{"incident-containment": "the live session was closed: want closed, got still open"})
}

// TestDrillSIEMFailsWhenTheReceiverGetsNothing: with the drill looking
// at another receiver than the one the gateway delivers to (test-only
// hook), the incident never arrives there and the drill fails.
func TestDrillSIEMFailsWhenTheReceiverGetsNothing(t *testing.T) {
	other, err := drill.NewWebhookReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	drillTargetHook = func(tg *drill.Target) { tg.Detection.Receiver = other }
	t.Cleanup(func() { drillTargetHook = nil })
	rep := drillReport(t, nil, exitRuntime, "--only", "incident-reaches-siem", "--event-wait", "300ms")
	failedOn(t, rep, map[string]string{"incident-reaches-siem": "the SIEM webhook receiver got the incident in a verified batch: want received, got not received"})
}

// TestDrillSIEMFailsAgainstARunningGatewayWhoseWebhookIsDown: against a
// running gateway whose SIEM webhook receiver does not answer, the
// webhook sink's cursor never passes the incident and the drill fails;
// against one with no SIEM webhook at all it fails saying so.
func TestDrillSIEMFailsAgainstARunningGatewayWhoseWebhookIsDown(t *testing.T) {
	t.Parallel()
	dead, err := drill.NewWebhookReceiver()
	if err != nil {
		t.Fatal(err)
	}
	url := dead.URL()
	dead.Close() // nothing listens there any more
	dir := t.TempDir()
	secret, ca := filepath.Join(dir, "secret"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(secret, dead.Secret(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, dead.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	env := []string{config.EnvPrefix + "SIEM_WEBHOOK_URL=" + url, config.EnvPrefix + "SIEM_WEBHOOK_SECRET_FILE=" + secret,
		config.EnvPrefix + "SIEM_WEBHOOK_CA_FILE=" + ca}
	startGateway(t, data, []string{"--data", data}, env)
	rep := drillReport(t, env, exitRuntime, "--data", data, "--event-wait", "300ms", "--only", "incident-reaches-siem")
	failedOn(t, rep, map[string]string{"incident-reaches-siem": "sink:webhook delivered the incident (its cursor passed it)"})

	plain := t.TempDir()
	startGateway(t, plain, []string{"--data", plain}, nil)
	rep = drillReport(t, nil, exitRuntime, "--data", plain, "--event-wait", "300ms", "--only", "incident-reaches-siem")
	failedOn(t, rep, map[string]string{"incident-reaches-siem": "the gateway delivers to a SIEM webhook (siem.webhook.url): want yes, got no"})
}
