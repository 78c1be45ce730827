package store

import (
	"context"
	"errors"
	"time"
)

// IncidentStore holds incidents (issue 22): what detection found, grouped
// by subject and time, with the incident's lifecycle, notes, notification
// clocks, notifications sent and containment actions, and the command
// holds containment places on vehicles. The store keeps rows and decides
// races; what a state means, which transitions are allowed and when a
// clock is due are package incident's.
//
// Races are decided here, once: a state change is conditional ("to, where
// the state is still from"), a finding id is stored at most once across
// every incident (a re-delivered finding is ErrConflict, nothing changes),
// and a clock is escalated at most once (EscalateIncidentClock is
// conditional), so every replica may run the escalator.
type IncidentStore interface {
	// CreateIncident stores inc (state open), its first finding, its
	// clocks and its first transition ("" to open, at inc.OpenedAt, by
	// actor) in one transaction. ErrConflict, and nothing stored, if
	// inc.ID or first.ID exists.
	CreateIncident(ctx context.Context, inc Incident, first IncidentFinding, clocks []IncidentClock, actor string) error
	// AddIncidentFinding adds f to incident id, raises its severity to
	// f.Severity if higher, adds f.RuleID to its rules, sets its last
	// finding time to f.At if later and its updated time to at.
	// ErrConflict, and no change, if f.ID is stored (on any incident);
	// ErrNotFound if the incident does not exist.
	AddIncidentFinding(ctx context.Context, id string, f IncidentFinding, at time.Time) error
	// IncidentOfFinding returns the id of the incident holding finding
	// fid, or ErrNotFound.
	IncidentOfFinding(ctx context.Context, fid string) (string, error)
	// LatestUnresolvedIncident returns the newest incident of the subject
	// whose state is not resolved, or ErrNotFound.
	LatestUnresolvedIncident(ctx context.Context, subjectKind, subject string) (Incident, error)
	// GetIncident returns one incident or ErrNotFound.
	GetIncident(ctx context.Context, id string) (Incident, error)
	// ListIncidents returns the incidents f selects, ordered by id, at
	// most f.Limit (0: DefaultPage; bounded by MaxPage).
	ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error)
	// IncidentRecord returns the incident with its findings, clocks,
	// notes, transitions, notifications and containment actions, each
	// oldest first (clocks by due time), or ErrNotFound.
	IncidentRecord(ctx context.Context, id string) (IncidentRecord, error)

	// TransitionIncident moves incident tr.Incident from tr.From to tr.To
	// and records the transition, in one transaction, and returns the
	// incident as it now is. ErrConflict, and no change, if its state is
	// not tr.From; ErrNotFound if it does not exist. With doneClock set,
	// that clock is marked done at tr.At in the same transaction if it is
	// not done yet.
	TransitionIncident(ctx context.Context, tr IncidentTransition, doneClock IncidentClockKind) (Incident, error)
	// AddIncidentNote records a note; ErrNotFound if the incident does
	// not exist.
	AddIncidentNote(ctx context.Context, n IncidentNote) error
	// RecordIncidentNotification records a notification and marks its
	// clock done at n.At (if not done yet), in one transaction.
	// ErrNotFound if the incident or that clock of it does not exist.
	RecordIncidentNotification(ctx context.Context, n IncidentNotification) error
	// RecordIncidentContainment records a containment action; ErrNotFound
	// if the incident does not exist.
	RecordIncidentContainment(ctx context.Context, c IncidentContainment) error

	// DueIncidentClocks returns up to limit clocks due at or before now,
	// neither done nor escalated, of incidents not resolved, earliest due
	// first: what the escalator escalates.
	DueIncidentClocks(ctx context.Context, now time.Time, limit int) ([]IncidentClock, error)
	// EscalateIncidentClock marks the clock (n.Incident, n.Clock)
	// escalated at n.At and records n (the escalation's notification
	// record), in one transaction, only if the clock is neither done nor
	// escalated: ErrConflict, and no change, if it is (another replica
	// escalated it, or it was done meanwhile); ErrNotFound if absent.
	EscalateIncidentClock(ctx context.Context, n IncidentNotification) error

	// PurgeResolvedIncidents deletes up to limit incidents (0:
	// IncidentPurgeBatch; at most MaxIncidentPurgeBatch) resolved before
	// resolvedBefore, earliest resolution first, each with all its rows
	// (findings, clocks, notes, transitions, notifications, containment
	// actions) in one transaction, and returns how many it deleted; fewer
	// than the limit means none is left (on PostgreSQL: none that another
	// replica's purge is not deleting). An incident that is not resolved
	// is never deleted, whatever its age. A vehicle hold is not an
	// incident's row: it stays until released. Package incident's
	// retention (incidents.retention) decides resolvedBefore; see
	// docs/INCIDENTS.md, "Retention".
	PurgeResolvedIncidents(ctx context.Context, resolvedBefore time.Time, limit int) (int, error)

	// SetVehicleHold holds commands to h.Vehicle (or replaces its hold):
	// no command is delivered to a held vehicle (the delivery transition
	// of TransitionCommand refuses with ErrVehicleHeld). ErrNotFound if
	// the vehicle does not exist.
	SetVehicleHold(ctx context.Context, h VehicleHold) error
	// GetVehicleHold returns a vehicle's hold or ErrNotFound.
	GetVehicleHold(ctx context.Context, vehicle string) (VehicleHold, error)
	// ReleaseVehicleHold removes a vehicle's hold; ErrNotFound if it has
	// none.
	ReleaseVehicleHold(ctx context.Context, vehicle string) error
}

// ErrVehicleHeld reports a command delivery refused because its vehicle's
// commands are held (SetVehicleHold); the command stays queued.
var ErrVehicleHeld = errors.New("store: the vehicle's commands are held")

// IncidentState is an incident's state as stored (package incident owns
// the state machine).
type IncidentState string

// The incident states.
const (
	IncidentOpen         IncidentState = "open"
	IncidentAcknowledged IncidentState = "acknowledged"
	IncidentContained    IncidentState = "contained"
	IncidentResolved     IncidentState = "resolved"
)

// IncidentClockKind names a notification clock.
type IncidentClockKind string

// The clock kinds.
const (
	ClockInternal              IncidentClockKind = "internal"
	ClockCustomer              IncidentClockKind = "customer"
	ClockRegulatorEarlyWarning IncidentClockKind = "regulator_early_warning"
	ClockRegulator             IncidentClockKind = "regulator"
)

// Incident is an incident as stored.
type Incident struct {
	ID          string
	SubjectKind string // vehicle, client, operator, source, gateway
	Subject     string
	Title       string
	Severity    int // OCSF severity_id: the highest of its findings
	Safety      bool
	State       IncidentState
	OpenedAt    time.Time
	UpdatedAt   time.Time
	// LastFindingAt is the newest finding's time: the grouping window
	// runs from it.
	LastFindingAt time.Time
	RuleIDs       []string // sorted, distinct
}

// IncidentFinding is one detection finding of an incident.
type IncidentFinding struct {
	ID       string // the finding's stable id: stored once
	RuleID   string
	Title    string
	Severity int
	Safety   bool
	FirstAt  time.Time
	At       time.Time
	Count    int
	EventIDs []string
	Runbook  string
}

// IncidentFilter selects incidents.
type IncidentFilter struct {
	State IncidentState // "": any
	After string        // cursor: only ids greater than it
	Limit int
}

// IncidentTransition is one state change of an incident.
type IncidentTransition struct {
	Incident string
	From, To IncidentState
	At       time.Time
	Actor    string // principal URI
	Reason   string
}

// IncidentNote is an operator's note on an incident.
type IncidentNote struct {
	Incident string
	Actor    string
	At       time.Time
	Text     string
}

// IncidentClock is one notification clock of an incident.
type IncidentClock struct {
	Incident    string
	Kind        IncidentClockKind
	DueAt       time.Time
	DoneAt      time.Time // zero: not done
	EscalatedAt time.Time // zero: not escalated
}

// IncidentNotification is one notification sent for an incident: by an
// operator (recorded with `incidents notify` or the API) or by the gateway
// itself (an escalation).
type IncidentNotification struct {
	Incident  string
	Clock     IncidentClockKind
	Channel   string // email, phone, portal, escalation ...
	Recipient string
	At        time.Time
	Actor     string // principal URI; the gateway's system principal for escalations
	Reference string // the operator's reference (ticket, filing number)
}

// IncidentContainment is one containment action taken from an incident.
type IncidentContainment struct {
	Incident string
	Action   string // revoke_certificate, suspend_client, hold_commands, release_hold
	Target   string
	Actor    string
	At       time.Time
	Result   string // done, or what failed
}

// IncidentRecord is an incident with everything recorded about it.
type IncidentRecord struct {
	Incident      Incident
	Findings      []IncidentFinding
	Clocks        []IncidentClock
	Notes         []IncidentNote
	Transitions   []IncidentTransition
	Notifications []IncidentNotification
	Containment   []IncidentContainment
}

// VehicleHold is a hold on a vehicle's commands.
type VehicleHold struct {
	Vehicle  string
	Incident string // the incident that placed it; "": none
	Actor    string
	At       time.Time
	Reason   string
}

// notHeld is the condition a command transition to delivered adds to its
// conditional update: the command's vehicle has no hold. The same SQL on
// both engines.
func notHeld(to CommandState) string {
	if to != CommandDelivered {
		return ""
	}
	return ` AND NOT EXISTS (SELECT 1 FROM vehicle_holds h WHERE h.vehicle = commands.vehicle_id)`
}

// incidentChildTables are the tables whose rows belong to one incident
// (column incident_id), deleted with it. vehicle_holds is not one: a hold
// stays in force until released, whatever became of its incident.
var incidentChildTables = []string{"incident_findings", "incident_transitions", "incident_notes", "incident_clocks",
	"incident_notifications", "incident_containment"}

func incidentPurgeBatch(limit int) int {
	switch {
	case limit <= 0:
		return IncidentPurgeBatch
	case limit > MaxIncidentPurgeBatch:
		return MaxIncidentPurgeBatch
	}
	return limit
}
