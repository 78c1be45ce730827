package incident

import (
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The JSON shape of incidents: the API's answers and the CLI's `-o json`
// are these, so a script written against one reads the other. Times are
// RFC 3339 UTC; absent times are omitted.

// Summary is an incident in a list.
type Summary struct {
	ID            string    `json:"id"`
	SubjectKind   string    `json:"subject_kind"`
	Subject       string    `json:"subject"`
	Title         string    `json:"title"`
	Severity      string    `json:"severity"`
	Safety        bool      `json:"safety"`
	State         string    `json:"state"`
	OpenedAt      time.Time `json:"opened_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	LastFindingAt time.Time `json:"last_finding_at"`
	Rules         []string  `json:"rules"`
}

// Detail is one incident with everything recorded about it.
type Detail struct {
	Summary
	Findings      []FindingJSON      `json:"findings"`
	Clocks        []ClockJSON        `json:"clocks"`
	Runbooks      []RunbookJSON      `json:"runbooks"`
	Notes         []NoteJSON         `json:"notes"`
	Transitions   []TransitionJSON   `json:"transitions"`
	Notifications []NotificationJSON `json:"notifications"`
	Containment   []ContainmentJSON  `json:"containment"`
}

// FindingJSON is a finding of an incident.
type FindingJSON struct {
	ID       string    `json:"id"`
	Rule     string    `json:"rule"`
	Title    string    `json:"title"`
	Severity string    `json:"severity"`
	Safety   bool      `json:"safety"`
	FirstAt  time.Time `json:"first_at"`
	At       time.Time `json:"at"`
	Count    int       `json:"count"`
	EventIDs []string  `json:"event_ids"`
}

// ClockJSON is a clock with its status now.
type ClockJSON struct {
	Kind        string     `json:"kind"`
	DueAt       time.Time  `json:"due_at"`
	Status      string     `json:"status"`
	DoneAt      *time.Time `json:"done_at,omitempty"`
	EscalatedAt *time.Time `json:"escalated_at,omitempty"`
}

// RunbookJSON is a rule's runbook.
type RunbookJSON struct {
	Rule string `json:"rule"`
	Text string `json:"text"`
}

// NoteJSON is an operator's note.
type NoteJSON struct {
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
	Text  string    `json:"text"`
}

// TransitionJSON is a state change.
type TransitionJSON struct {
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

// NotificationJSON is a notification sent (or an escalation).
type NotificationJSON struct {
	Clock     string    `json:"clock"`
	Channel   string    `json:"channel"`
	Recipient string    `json:"recipient"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Reference string    `json:"reference,omitempty"`
}

// ContainmentJSON is a containment action taken.
type ContainmentJSON struct {
	Action string    `json:"action"`
	Target string    `json:"target"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	Result string    `json:"result"`
}

func sevName(s int) string { return codes.Severity(s).String() }

// SummaryOf renders an incident for a list.
func SummaryOf(i store.Incident) Summary {
	rules := i.RuleIDs
	if rules == nil {
		rules = []string{}
	}
	return Summary{ID: i.ID, SubjectKind: i.SubjectKind, Subject: i.Subject, Title: i.Title, Severity: sevName(i.Severity), Safety: i.Safety,
		State: string(i.State), OpenedAt: i.OpenedAt, UpdatedAt: i.UpdatedAt, LastFindingAt: i.LastFindingAt, Rules: rules}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// DetailOf renders a view.
func DetailOf(v View) Detail {
	d := Detail{Summary: SummaryOf(v.Incident), Findings: []FindingJSON{}, Clocks: []ClockJSON{}, Runbooks: []RunbookJSON{}, Notes: []NoteJSON{},
		Transitions: []TransitionJSON{}, Notifications: []NotificationJSON{}, Containment: []ContainmentJSON{}}
	for _, f := range v.Findings {
		evs := f.EventIDs
		if evs == nil {
			evs = []string{}
		}
		d.Findings = append(d.Findings, FindingJSON{ID: f.ID, Rule: f.RuleID, Title: f.Title, Severity: sevName(f.Severity), Safety: f.Safety,
			FirstAt: f.FirstAt, At: f.At, Count: f.Count, EventIDs: evs})
	}
	for _, c := range v.Clocks {
		d.Clocks = append(d.Clocks, ClockJSON{Kind: string(c.Kind), DueAt: c.DueAt, Status: string(c.Status), DoneAt: timePtr(c.DoneAt), EscalatedAt: timePtr(c.EscalatedAt)})
	}
	for _, r := range v.Runbooks {
		d.Runbooks = append(d.Runbooks, RunbookJSON{Rule: r.RuleID, Text: r.Text})
	}
	for _, n := range v.Notes {
		d.Notes = append(d.Notes, NoteJSON{Actor: n.Actor, At: n.At, Text: n.Text})
	}
	for _, t := range v.Transitions {
		d.Transitions = append(d.Transitions, TransitionJSON{From: string(t.From), To: string(t.To), At: t.At, Actor: t.Actor, Reason: t.Reason})
	}
	for _, n := range v.Notifications {
		d.Notifications = append(d.Notifications, NotificationJSON{Clock: string(n.Clock), Channel: n.Channel, Recipient: n.Recipient, At: n.At,
			Actor: n.Actor, Reference: n.Reference})
	}
	for _, c := range v.Containment {
		d.Containment = append(d.Containment, ContainmentJSON{Action: c.Action, Target: c.Target, Actor: c.Actor, At: c.At, Result: c.Result})
	}
	return d
}
