package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// t0 is the start of the synthetic streams: the engine counts in event
// time, so an hour of events is evaluated in milliseconds.
var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func vehicle(id string) principal.Principal {
	return principal.Principal{Kind: principal.Vehicle, ID: id}
}
func client(id string) principal.Principal {
	return principal.Principal{Kind: principal.Client, ID: id}
}
func operator(id string) principal.Principal {
	return principal.Principal{Kind: principal.Operator, ID: id}
}

var systemActor = principal.Principal{Kind: principal.System, ID: "gateway"}

var evSeq int

// ev completes an event as the bus would (id, time) and returns its row,
// as the store holds it.
func row(t testing.TB, e event.Event) store.EventRow {
	t.Helper()
	evSeq++
	if e.ID == "" {
		e.ID = fmt.Sprintf("ev%06d", evSeq)
	}
	if e.Verdict == "" {
		e.Verdict = event.Info
	}
	if e.Severity == 0 {
		e.Severity = codes.SeverityOf(e.Code, event.SeverityInfo)
	}
	e.Attrs = event.Sanitize(e.Attrs)
	r, err := event.Row(e)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// about returns an event with code at time at, shaped as the gateway
// emits events about subjects of grouping g (actor, resource, source).
func about(g GroupBy, subject, code string, at time.Time) event.Event {
	e := event.Event{Time: at, Class: event.ClassTelemetry, Code: code, Verdict: event.Reject}
	switch g {
	case GroupVehicle, GroupSubject:
		e.Actor, e.Resource = vehicle(subject), vehicle(subject).String()
	case GroupClient:
		e.Actor, e.Resource = client(subject), "/v1/vehicles"
	case GroupOperator, GroupActor:
		e.Actor, e.Resource = operator(subject), "command:c1"
	case GroupSource:
		e.Source, e.Class = subject, event.ClassAuthentication
	case GroupGateway:
		e.Actor = systemActor
	}
	return e
}

// run evaluates rows in order, committing, and returns every finding.
func run(eng *Engine, rows []store.EventRow) []Finding {
	var out []Finding
	for _, r := range rows {
		out = append(out, eng.Evaluate(InputOf(r), true)...)
	}
	return out
}
