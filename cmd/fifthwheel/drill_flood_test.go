package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/drill"
)

// failedDrill runs `fifthwheel drill` with args, which select one drill,
// and returns its result after checking that it failed and the exit
// status is 1.
func failedDrill(t *testing.T, env []string, args ...string) drill.Result {
	t.Helper()
	r := cli(t, env, append([]string{"drill", "--json", "--event-wait", "300ms"}, args...)...)
	if r.code != exitRuntime {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, exitRuntime, r.stdout, r.stderr)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Drills) != 1 || rep.Summary.Fail != 1 {
		t.Fatalf("summary %+v, want the one drill failed", rep.Summary)
	}
	t.Logf("reason: %s", rep.Drills[0].Reason)
	return rep.Drills[0]
}

// failedCheck returns the drill's check whose description starts with
// what, failing the test if there is none or it held.
func failedCheck(t *testing.T, d drill.Result, what string) {
	t.Helper()
	for _, c := range d.Checks {
		if strings.HasPrefix(c.What, what) {
			if c.OK {
				t.Errorf("check %q held: %+v", c.What, c)
			}
			return
		}
	}
	t.Errorf("no check %q in %+v", what, d.Checks)
}

// TestDrillHandshakeStallFailsWithoutPerSourceAdmission: against a gateway
// whose per-source handshake bound is as wide as the listener's
// (tls.max_pending_handshakes_per_source 4096: one source may take every
// slot), while the drill expects the default 256, the silent sockets
// beyond 256 are not refused and no admission_source_limit is recorded:
// the handshake-stall drill fails, exit status 1.
func TestDrillHandshakeStallFailsWithoutPerSourceAdmission(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	startGateway(t, data, []string{"--data", data}, []string{"FIFTHWHEEL_TLS_MAX_PENDING_HANDSHAKES_PER_SOURCE=4096"})
	d := failedDrill(t, nil, "--data", data, "--only", "handshake-stall")
	failedCheck(t, d, "silent sockets the gateway refused on accept")
	failedCheck(t, d, "security event in the gateway's store")
}

// TestDrillEventFloodFailsWithoutAggregation: against the in-process
// gateway with its aggregator bypassed (test-only hook), the flood leaves
// one event per refusal, far beyond the drill's bound, and no summary:
// the unauthenticated-event-flood drill fails, exit status 1.
func TestDrillEventFloodFailsWithoutAggregation(t *testing.T) {
	serveUnaggregated = true
	t.Cleanup(func() { serveUnaggregated = false })
	d := failedDrill(t, nil, "--only", "unauthenticated-event-flood")
	failedCheck(t, d, "events about 127.0.0.2 the gateway recorded for the flood")
	failedCheck(t, d, "events the aggregated summaries stand for")
}

// TestDrillFlappingFailsWithoutTheResumeHoldDown: against a gateway that
// resumes a truck after one heartbeat (session.resume_stable_heartbeats
// 1), while the drill expects the default 3, the truck is resumed within
// a flap: the reconnection-flapping drill fails, exit status 1.
func TestDrillFlappingFailsWithoutTheResumeHoldDown(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	startGateway(t, data, []string{"--data", data}, []string{"FIFTHWHEEL_SESSION_RESUME_STABLE_HEARTBEATS=1"})
	d := failedDrill(t, nil, "--data", data, "--only", "reconnection-flapping")
	failedCheck(t, d, "the truck during 3 flaps")
}
