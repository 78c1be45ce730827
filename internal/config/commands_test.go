package config

import (
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/approval"
)

// TestCommandPolicyDefaultsAreTheApprovalPolicys: the commands section's
// defaults are package approval's, so a gateway without the section
// enforces exactly the policy package approval documents.
func TestCommandPolicyDefaultsAreTheApprovalPolicys(t *testing.T) {
	got := valid().CommandPolicy().WithDefaults()
	if want := (approval.Policy{}).WithDefaults(); got != want {
		t.Fatalf("default commands section = %+v, want package approval's %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestCommandPolicyFromFileAndEnv: every commands.* key reaches the
// policy, from the file and from its environment variable, and a count
// of 0 means no approval for that rule (not package approval's default).
func TestCommandPolicyFromFileAndEnv(t *testing.T) {
	c, src, err := Parse([]byte(`data_dir: /x
commands:
  heavy_gross_kg: 30000
  heavy_approvals: 3
  route_update_approvals: 0
  handover_approvals: 2
  risk_threshold: 40
  risk_extra_approvals: 0
  approval_lifetime: 5m
  lifetime: 30m
  max_lifetime: 2h
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyEnv([]string{"FIFTHWHEEL_COMMANDS_HAZMAT_APPROVALS=1"}, src); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.CommandPolicy().WithDefaults()
	want := approval.Policy{HazmatApprovals: 1, HeavyGrossKg: 30000, HeavyApprovals: 3, RouteUpdateApprovals: 0, HandoverApprovals: 2,
		RiskThreshold: 40, RiskExtraApprovals: 0, ApprovalTTL: 5 * time.Minute, CommandTTL: 30 * time.Minute, MaxCommandTTL: 2 * time.Hour}
	if p != want {
		t.Fatalf("policy = %+v, want %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if a := p.Assess(approval.Risk{RouteUpdate: true, GrossKg: 100}); a.Required != 0 {
		t.Fatalf("route_update_approvals 0: a route update needs %d", a.Required)
	}
	if a := p.Assess(approval.Risk{GrossKg: 100, HazmatLines: 1}); a.Required != 1 {
		t.Fatalf("FIFTHWHEEL_COMMANDS_HAZMAT_APPROVALS=1: a hazmat dispatch needs %d", a.Required)
	}
}
