package detect

import (
	"context"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// Finding is one firing of a rule.
type Finding struct {
	ID          string // stable for (rule, subject, window start): a re-delivered event never makes a second finding with a new id
	RuleID      string
	Title       string // the rule's description
	Severity    codes.Severity
	Safety      bool      // the rule is safety-relevant: the incident's internal clock is the 15-minute safety one
	SubjectKind string    // "vehicle" | "client" | "operator" | "source" | "gateway"
	Subject     string    // vehicle id, client id, source (address /64) ...
	FirstAt     time.Time // the first event in the window
	At          time.Time // the event that made the rule fire
	Count       int
	EventIDs    []string // the events behind it (at most MaxFindingEvents, the first ones)
	Runbook     string   // the rule's runbook text
}

// Reporter receives findings (the incident manager implements it).
type Reporter interface {
	Report(ctx context.Context, f Finding) error
}
