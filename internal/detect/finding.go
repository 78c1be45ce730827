package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// The subject kinds of a Finding.
const (
	SubjectVehicle  = "vehicle"
	SubjectClient   = "client"
	SubjectOperator = "operator"
	SubjectSource   = "source"
	SubjectGateway  = "gateway"
)

// findingID is the id of the finding of rule about (kind, subject) whose
// window starts with the event firstEventID: the same inputs give the same
// id, so a finding made again from re-delivered events keeps its id.
func findingID(rule, kind, subject, firstEventID string) string {
	h := sha256.New()
	for _, s := range []string{"fifthwheel detect finding v1", rule, kind, subject, firstEventID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
