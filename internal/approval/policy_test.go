package approval

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPolicyAssess(t *testing.T) {
	def := Policy{}.WithDefaults()
	cases := []struct {
		name    string
		p       Policy
		r       Risk
		want    int
		class   Class
		reasons []string
	}{
		{"plain dispatch", def, Risk{GrossKg: 20000}, 0, Standard, nil},
		{"at the weight limit", def, Risk{GrossKg: 36000}, 0, Standard, nil},
		{"over the weight limit", def, Risk{GrossKg: 36000.5}, 2, High, []string{"gross_weight"}},
		{"weight not a number counts as heavy", def, Risk{GrossKg: math.NaN()}, 2, High, []string{"gross_weight"}},
		{"infinite weight counts as heavy", def, Risk{GrossKg: math.Inf(1)}, 2, High, []string{"gross_weight"}},
		{"negative weight counts as heavy", def, Risk{GrossKg: -1}, 2, High, []string{"gross_weight"}},
		{"hazmat", def, Risk{HazmatLines: 1}, 2, High, []string{"hazmat"}},
		{"route update", def, Risk{RouteUpdate: true}, 1, Elevated, []string{"route_update"}},
		{"handover", def, Risk{Handover: true}, 1, Elevated, []string{"handover"}},
		{"dispatch with a handoff point", def, Risk{GrossKg: 20000, Handoffs: 1}, 1, Elevated, []string{"handover"}},
		{"handoff count that is not a count counts", def, Risk{GrossKg: 20000, Handoffs: -1}, 1, Elevated, []string{"handover"}},
		{"route update with a handoff point", Policy{HandoverApprovals: 3}.WithDefaults(), Risk{RouteUpdate: true, Handoffs: 2}, 3, High, []string{"route_update", "handover"}},
		{"hazmat dispatch with a handoff point takes the larger", def, Risk{HazmatLines: 1, Handoffs: 1}, 2, High, []string{"hazmat", "handover"}},
		{"handoff points need none when configured", Policy{HandoverApprovals: None}.WithDefaults(), Risk{Handoffs: 1}, 0, Standard, []string{"handover"}},
		{"heavy approvals apart from hazmat", Policy{HeavyApprovals: 3, HazmatApprovals: 1}.WithDefaults(), Risk{GrossKg: 40000}, 3, High, []string{"gross_weight"}},
		{"hazmat approvals apart from heavy", Policy{HeavyApprovals: 3, HazmatApprovals: 1}.WithDefaults(), Risk{GrossKg: 100, HazmatLines: 1}, 1, Elevated, []string{"hazmat"}},
		{"hazmat route update takes the larger", def, Risk{RouteUpdate: true, HazmatLines: 2}, 2, High, []string{"hazmat", "route_update"}},
		{"risk at the threshold", def, Risk{Score: 25}, 0, Standard, nil},
		{"risk over the threshold adds one", def, Risk{Score: 26}, 1, Elevated, []string{"risk_score"}},
		{"hazmat and risk", def, Risk{HazmatLines: 1, Score: 90}, 3, High, []string{"hazmat", "risk_score"}},
		{"capped", Policy{HazmatApprovals: 5, RiskExtraApprovals: 5}.WithDefaults(), Risk{HazmatLines: 1, Score: 99}, MaxApprovalsRequired, High, []string{"hazmat", "risk_score"}},
		{"route updates need none when configured", Policy{RouteUpdateApprovals: None}.WithDefaults(), Risk{RouteUpdate: true}, 0, Standard, []string{"route_update"}},
		{"a lower weight limit", Policy{HeavyGrossKg: 10000}.WithDefaults(), Risk{GrossKg: 10001}, 2, High, []string{"gross_weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.p.Assess(c.r)
			if a.Required != c.want || a.Class != c.class || !slices.Equal(a.Reasons, c.reasons) {
				t.Fatalf("Assess(%+v) = %+v; want %d %s %v", c.r, a, c.want, c.class, c.reasons)
			}
		})
	}
}

func TestPolicyDefaultsAndValidate(t *testing.T) {
	d := Policy{}.WithDefaults()
	want := Policy{HeavyGrossKg: 36000, HazmatApprovals: 2, HeavyApprovals: 2, RouteUpdateApprovals: 1, HandoverApprovals: 1, RiskThreshold: 25,
		RiskExtraApprovals: 1, ApprovalTTL: 15 * time.Minute, CommandTTL: time.Hour, MaxCommandTTL: 72 * time.Hour}
	if d != want {
		t.Fatalf("defaults = %+v, want %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    Policy
		want string
	}{
		{"hazmat approvals cannot be none", Policy{HazmatApprovals: None}, "hazmat approvals"},
		{"heavy load approvals cannot be none", Policy{HeavyApprovals: None}, "heavy load approvals"},
		{"more approvals than the bound", Policy{RouteUpdateApprovals: MaxApprovalsRequired + 1}, "route update approvals"},
		{"approval lifetime too short", Policy{ApprovalTTL: time.Second}, "approval lifetime"},
		{"command lifetime over its maximum", Policy{CommandTTL: 5 * time.Hour, MaxCommandTTL: 4 * time.Hour}, "command lifetime"},
		{"risk threshold out of range", Policy{RiskThreshold: 101}, "risk threshold"},
		{"negative weight limit", Policy{HeavyGrossKg: -5}, "heavy gross weight"},
	} {
		if err := c.p.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error about %q", c.name, err, c.want)
		}
	}
}
