package incident

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// ClockStatus is what a clock shows now.
type ClockStatus string

// The clock statuses.
const (
	ClockDone    ClockStatus = "done"    // the notification was recorded (or the incident acknowledged, for internal)
	ClockPending ClockStatus = "pending" // not due yet
	ClockOverdue ClockStatus = "overdue" // due and not done (escalated once)
	ClockClosed  ClockStatus = "closed"  // not done, and the incident was resolved
)

// Clock is a clock with its status at the time of reading.
type Clock struct {
	store.IncidentClock
	Status ClockStatus
}

// View is an incident with everything recorded about it, its clocks'
// status now and the runbook texts of its rules (one per rule, in the
// order the rules first fired).
type View struct {
	store.IncidentRecord
	Clocks   []Clock
	Runbooks []Runbook
}

// Runbook is a rule's runbook text.
type Runbook struct {
	RuleID string
	Text   string
}

// StatusAt returns c's status at now for an incident in state.
func StatusAt(c store.IncidentClock, state store.IncidentState, now time.Time) ClockStatus {
	switch {
	case !c.DoneAt.IsZero():
		return ClockDone
	case state == store.IncidentResolved:
		return ClockClosed
	case !now.Before(c.DueAt):
		return ClockOverdue
	}
	return ClockPending
}

// Get returns an incident's view; ErrNotFound if absent.
func (m *Manager) Get(ctx context.Context, id string) (View, error) {
	rec, err := m.d.Store.IncidentRecord(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return View{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return View{}, err
	}
	return NewView(rec, m.now()), nil
}

// NewView computes rec's view at now.
func NewView(rec store.IncidentRecord, now time.Time) View {
	v := View{IncidentRecord: rec}
	for _, c := range rec.Clocks {
		v.Clocks = append(v.Clocks, Clock{IncidentClock: c, Status: StatusAt(c, rec.Incident.State, now)})
	}
	seen := map[string]bool{}
	for _, f := range rec.Findings {
		if f.Runbook == "" || seen[f.RuleID] {
			continue
		}
		seen[f.RuleID] = true
		v.Runbooks = append(v.Runbooks, Runbook{RuleID: f.RuleID, Text: f.Runbook})
	}
	return v
}

// List returns incidents by id, after the cursor, in state (""; any).
func (m *Manager) List(ctx context.Context, state store.IncidentState, after string, limit int) ([]store.Incident, error) {
	switch state {
	case "", store.IncidentOpen, store.IncidentAcknowledged, store.IncidentContained, store.IncidentResolved:
	default:
		return nil, refuse(codes.IncidentInvalid, "unknown state (open, acknowledged, contained, resolved)")
	}
	return m.d.Store.ListIncidents(ctx, store.IncidentFilter{State: state, After: after, Limit: limit})
}
