package incident

import (
	"context"
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// EscalationChannel is the channel of the notification record an
// escalation leaves.
const EscalationChannel = "escalation"

// EscalationRecipient is who an escalation is addressed to: every
// security admin (the incident_clock_overdue event is what pages them,
// through the SIEM sinks).
const EscalationRecipient = "security_admin"

// EscalateDue escalates every clock due at now that is neither done nor
// escalated, of incidents not resolved: each is marked escalated, with a
// notification record (channel "escalation") and one
// incident_clock_overdue event. The store's conditional update makes each
// escalation happen once however many replicas run it at the same time;
// the replica that lost the race records nothing. It returns how many
// this call escalated.
func (m *Manager) EscalateDue(ctx context.Context) (int, error) {
	n := 0
	for {
		now := m.now()
		due, err := m.d.Store.DueIncidentClocks(ctx, now, EscalateBatch)
		if err != nil {
			return n, err
		}
		for _, c := range due {
			err := m.d.Store.EscalateIncidentClock(ctx, store.IncidentNotification{Incident: c.Incident, Clock: c.Kind, Channel: EscalationChannel,
				Recipient: EscalationRecipient, At: now, Actor: System.String(), Reference: "overdue since " + c.DueAt.Format(time.RFC3339)})
			switch {
			case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				continue // escalated by another replica, or done meanwhile
			case err != nil:
				return n, err
			}
			n++
			if err := m.emit(ctx, event.Event{Code: codes.IncidentClockOverdue, Activity: "incident_escalate", Actor: System,
				Resource: "incident:" + c.Incident, Verdict: event.Info,
				Attrs: map[string]any{"clock": string(c.Kind), "due": c.DueAt.Format(time.RFC3339), "overdue_by": now.Sub(c.DueAt).Round(time.Second).String()}}); err != nil {
				return n, err
			}
		}
		if len(due) < EscalateBatch {
			return n, nil
		}
	}
}

// RunEscalator runs EscalateDue every EscalateInterval until ctx ends.
// Errors are logged and the next pass retries: a clock stays due until an
// escalation of it commits. One per replica is right (see EscalateDue).
func (m *Manager) RunEscalator(ctx context.Context) {
	t := time.NewTicker(m.cfg.EscalateInterval)
	defer t.Stop()
	for {
		if _, err := m.EscalateDue(ctx); err != nil && ctx.Err() == nil {
			m.d.Log.Warn("incident: escalation pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
