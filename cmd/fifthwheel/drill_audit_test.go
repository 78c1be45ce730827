package main

import (
	"context"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/drill"
)

// TestDrillAuditLogTamperingPasses: against the in-process gateway the
// drill's edited and deleted events are named by their leaf and position,
// and the log verifies again once they are restored.
func TestDrillAuditLogTamperingPasses(t *testing.T) {
	rep := runDrills(t, nil, []string{"audit-log-tampering"}, exitOK)
	d := rep.Drills[0]
	if d.Outcome != drill.Pass || len(d.Checks) != 4 || len(d.Events) != 2 {
		t.Fatalf("%+v", d)
	}
	for _, c := range d.Checks {
		if !c.OK || (strings.Contains(c.What, "named") && !strings.Contains(c.Got, "leaf=")) {
			t.Errorf("check %+v", c)
		}
	}
}

// TestDrillAuditLogTamperingFailsWithAVerifierThatIgnoresFindings: with
// `audit verify` replaced by one that reports no finding (test-only hook),
// the drill fails on the checks that name the tampered rows.
func TestDrillAuditLogTamperingFailsWithAVerifierThatIgnoresFindings(t *testing.T) {
	rep := runDrills(t, func(tg *drill.Target) {
		verify := tg.Audit.Verify
		tg.Audit.Verify = func(ctx context.Context, saved []byte) (*audit.Report, error) {
			r, err := verify(ctx, saved)
			if r != nil {
				r.Findings = nil
			}
			return r, err
		}
	}, []string{"audit-log-tampering"}, exitRuntime)
	d := rep.Drills[0]
	if d.Outcome != drill.Fail || !strings.Contains(d.Reason, "named") {
		t.Fatalf("outcome %s: %s", d.Outcome, d.Reason)
	}
}
