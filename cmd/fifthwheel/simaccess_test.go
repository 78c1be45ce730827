package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// The `sim access` tests run the command as a user does, against `serve
// --dev` in this process, for about two seconds. They assert what the
// report must hold whatever the machine's speed: successes counted, the
// counts add up, the ceiling and the gateway's CPU measured, and a refusal
// the driver does not expect fails the run. No timing is asserted.

// accessEnv raises the per-client budget out of the way.
var accessEnv = []string{"FIFTHWHEEL_ACCESS_RATE_PER_SECOND=10000", "FIFTHWHEEL_ACCESS_BURST=10000",
	"FIFTHWHEEL_LOG_LEVEL=warn"}

// simAccess runs `sim access` against g and returns its exit code, stderr
// and report.
func simAccess(t *testing.T, g *gateway, args ...string) (int, string, sim.AccessReport) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "access.json")
	args = append([]string{"sim", "access", "--calibrate", "200ms", "--warmup", "500ms", "--summary-every", "1s",
		"--duration", "2s", "--json", out}, args...)
	r := cli(t, g.env, append(args, g.state...)...)
	t.Logf("fifthwheel %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	var rep sim.AccessReport
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no JSON report: %v", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return r.code, r.stderr, rep
}

// checkAccessCounts: every request is OK or refused, once.
func checkAccessCounts(t *testing.T, name string, o sim.AccessOps) {
	t.Helper()
	if got := o.OK + sumCounts(o.Refused); got != o.Requests {
		t.Errorf("%s: ok %d + refused %v = %d, want the %d requests sent", name, o.OK, o.Refused, got, o.Requests)
	}
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestSimAccessCountsSuccesses: a mixed run (token minting and guarded
// reads with a new token every 3 reads) against a healthy gateway counts
// tokens issued and reads granted, refuses nothing, measures the ceiling
// before and after and the gateway's CPU, and exits 0; the clients and
// vehicles it provisioned are in the registry with their carrier and roles.
func TestSimAccessCountsSuccesses(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, accessEnv)
	code, _, rep := simAccess(t, g, "--mode", "mix", "--clients", "4", "--vehicles", "3", "--fresh-token-every", "3")
	if code != 0 {
		t.Errorf("sim access exited %d on a healthy gateway", code)
	}
	checkAccessCounts(t, "tokens", rep.Tokens)
	checkAccessCounts(t, "reads", rep.Reads)
	if rep.Tokens.OK == 0 || rep.Reads.OK == 0 {
		t.Fatalf("nothing counted: tokens %+v, reads %+v", rep.Tokens, rep.Reads)
	}
	for _, o := range []sim.AccessOps{rep.Tokens, rep.Reads} {
		for reason := range o.Refused {
			if !strings.HasPrefix(reason, "http 429") {
				t.Errorf("unexpected refusal on a healthy gateway: %s", reason)
			}
		}
	}
	// The two reading clients got a new token at least every 3 reads.
	if min := rep.Reads.OK / 3; rep.Tokens.OK < min {
		t.Errorf("%d tokens for %d reads with a new token every 3", rep.Tokens.OK, rep.Reads.OK)
	}
	if !(rep.Ceiling.VerifyPerSec > 0) || rep.CeilingAfter == nil || !(rep.CeilingAfter.VerifyPerSec > 0) {
		t.Errorf("ceiling not measured before and after: %+v, %+v", rep.Ceiling, rep.CeilingAfter)
	}
	if rep.GatewayCores == nil || rep.GatewayPID != os.Getpid() || !(rep.GatewayCPUPerRequest > 0) {
		t.Errorf("gateway CPU not read from the pid in serve.addrs: pid %d, cores %v, per request %v, error %q",
			rep.GatewayPID, rep.GatewayCores, rep.GatewayCPUPerRequest, rep.GatewayCPUError)
	}
	out := g.mustCLI("client", "show", "access-c00001")
	if !strings.Contains(out, sim.DefaultAccessCarrier) || !strings.Contains(out, "planner") {
		t.Errorf("client access-c00001 not registered with its carrier and role:\n%s", out)
	}
	if out := g.mustCLI("vehicle", "list"); !strings.Contains(out, "access-v00002") {
		t.Errorf("vehicle access-v00002 not registered:\n%s", out)
	}
}

// TestSimAccessFailsWhenRefused: clients without roles are refused tokens
// (oauth_invalid_scope); the run counts the refusals by status and code,
// grants nothing, and exits non-zero naming the refusal.
func TestSimAccessFailsWhenRefused(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, accessEnv)
	code, stderr, rep := simAccess(t, g, "--mode", "reads", "--clients", "2", "--prefix", "noroles", "--roles", "")
	if code == 0 {
		t.Error("sim access exited 0 though every token request was refused")
	}
	checkAccessCounts(t, "tokens", rep.Tokens)
	if rep.Tokens.OK != 0 || rep.Reads.Requests != 0 {
		t.Errorf("clients without roles got tokens (%d) or read (%d)", rep.Tokens.OK, rep.Reads.Requests)
	}
	key := "http 400 " + codes.OAuthInvalidScope
	if rep.Tokens.Refused[key] == 0 {
		t.Errorf("refusals not counted under %q: %v", key, rep.Tokens.Refused)
	}
	if !strings.Contains(stderr, codes.OAuthInvalidScope) {
		t.Errorf("the error does not name the refusal: %s", stderr)
	}
}
