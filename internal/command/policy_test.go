package command

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

func TestPolicyAssess(t *testing.T) {
	def := Policy{}.WithDefaults()
	cases := []struct {
		name    string
		p       Policy
		r       Risk
		want    int
		class   RiskClass
		reasons []string
	}{
		{"plain dispatch", def, Risk{Type: TypeDispatch, GrossKg: 20000}, 0, RiskStandard, nil},
		{"at the weight limit", def, Risk{Type: TypeDispatch, GrossKg: 36000}, 0, RiskStandard, nil},
		{"over the weight limit", def, Risk{Type: TypeDispatch, GrossKg: 36000.5}, 2, RiskHigh, []string{"gross_weight"}},
		{"weight not a number counts as heavy", def, Risk{Type: TypeDispatch, GrossKg: math.NaN()}, 2, RiskHigh, []string{"gross_weight"}},
		{"infinite weight counts as heavy", def, Risk{Type: TypeDispatch, GrossKg: math.Inf(1)}, 2, RiskHigh, []string{"gross_weight"}},
		{"negative weight counts as heavy", def, Risk{Type: TypeDispatch, GrossKg: -1}, 2, RiskHigh, []string{"gross_weight"}},
		{"hazmat", def, Risk{Type: TypeDispatch, HazmatLines: 1}, 2, RiskHigh, []string{"hazmat"}},
		{"route update", def, Risk{Type: TypeRouteUpdate}, 1, RiskElevated, []string{"route_update"}},
		{"handover", def, Risk{Type: TypeHandover}, 1, RiskElevated, []string{"handover"}},
		{"dispatch with a handoff point", def, Risk{Type: TypeDispatch, GrossKg: 20000, Handoffs: 1}, 1, RiskElevated, []string{"handover"}},
		{"handoff count that is not a count counts", def, Risk{Type: TypeDispatch, GrossKg: 20000, Handoffs: -1}, 1, RiskElevated, []string{"handover"}},
		{"route update with a handoff point", Policy{HandoverApprovals: 3}.WithDefaults(), Risk{Type: TypeRouteUpdate, Handoffs: 2}, 3, RiskHigh, []string{"route_update", "handover"}},
		{"hazmat dispatch with a handoff point takes the larger", def, Risk{Type: TypeDispatch, HazmatLines: 1, Handoffs: 1}, 2, RiskHigh, []string{"hazmat", "handover"}},
		{"handoff points need none when configured", Policy{HandoverApprovals: None}.WithDefaults(), Risk{Type: TypeDispatch, Handoffs: 1}, 0, RiskStandard, []string{"handover"}},
		{"heavy approvals apart from hazmat", Policy{HeavyApprovals: 3, HazmatApprovals: 1}.WithDefaults(), Risk{Type: TypeDispatch, GrossKg: 40000}, 3, RiskHigh, []string{"gross_weight"}},
		{"hazmat approvals apart from heavy", Policy{HeavyApprovals: 3, HazmatApprovals: 1}.WithDefaults(), Risk{Type: TypeDispatch, GrossKg: 100, HazmatLines: 1}, 1, RiskElevated, []string{"hazmat"}},
		{"hazmat route update takes the larger", def, Risk{Type: TypeRouteUpdate, HazmatLines: 2}, 2, RiskHigh, []string{"hazmat", "route_update"}},
		{"risk at the threshold", def, Risk{Type: TypeDispatch, Score: 25}, 0, RiskStandard, nil},
		{"risk over the threshold adds one", def, Risk{Type: TypeDispatch, Score: 26}, 1, RiskElevated, []string{"risk_score"}},
		{"hazmat and risk", def, Risk{Type: TypeDispatch, HazmatLines: 1, Score: 90}, 3, RiskHigh, []string{"hazmat", "risk_score"}},
		{"capped", Policy{HazmatApprovals: 5, RiskExtraApprovals: 5}.WithDefaults(), Risk{HazmatLines: 1, Score: 99}, MaxApprovalsRequired, RiskHigh, []string{"hazmat", "risk_score"}},
		{"route updates need none when configured", Policy{RouteUpdateApprovals: None}.WithDefaults(), Risk{Type: TypeRouteUpdate}, 0, RiskStandard, []string{"route_update"}},
		{"a lower weight limit", Policy{HeavyGrossKg: 10000}.WithDefaults(), Risk{Type: TypeDispatch, GrossKg: 10001}, 2, RiskHigh, []string{"gross_weight"}},
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

func TestStateMachine(t *testing.T) {
	for _, c := range []struct {
		s        State
		possibly bool
		final    bool
		cancel   bool
	}{
		{PendingApproval, false, false, true},
		{Approved, false, false, true},
		{Queued, false, false, true},
		{Delivered, true, false, false},
		{Accepted, true, true, false},
		{Rejected, false, true, false},
		{Expired, false, true, false},
		{Cancelled, false, true, false},
		{store.CommandState("paused"), true, false, false}, // unknown: fail closed
	} {
		if PossiblyExecuted(c.s) != c.possibly || Final(c.s) != c.final || Cancellable(c.s) != c.cancel {
			t.Errorf("%s: possibly executed %v, final %v, cancellable %v; want %v %v %v", c.s,
				PossiblyExecuted(c.s), Final(c.s), Cancellable(c.s), c.possibly, c.final, c.cancel)
		}
	}
	for _, s := range States {
		if Final(s) && len(transitions[s]) > 0 {
			t.Errorf("final state %s has transitions", s)
		}
	}
	// What may never happen.
	for _, tr := range [][2]State{{"", Queued}, {PendingApproval, Queued}, {PendingApproval, Delivered}, {Delivered, Expired},
		{Delivered, Cancelled}, {Cancelled, Queued}, {Expired, Delivered}, {Accepted, Rejected}} {
		if CanTransition(tr[0], tr[1]) {
			t.Errorf("%q → %q is allowed", tr[0], tr[1])
		}
	}
	if !RequiresFreshSession(RiskHigh) || RequiresFreshSession(RiskElevated) || !RequiresFreshSession("unknown") {
		t.Error("RequiresFreshSession")
	}
}

// TestEveryEventCodeHasAnActivity: each code the service emits names the
// lifecycle step that decided.
func TestEveryEventCodeHasAnActivity(t *testing.T) {
	for code, act := range activities {
		if _, ok := codes.Lookup(code); !ok || act == "" {
			t.Errorf("%s: not catalogued or no activity", code)
		}
	}
	for _, e := range codes.All() {
		if e.Area == codes.AreaCommand && activities[e.Code] == "" {
			t.Errorf("%s: a command code without an activity", e.Code)
		}
	}
}
