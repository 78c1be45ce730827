package command

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

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
	if !RequiresFreshSession(approval.High) || RequiresFreshSession(approval.Elevated) || !RequiresFreshSession("unknown") {
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
