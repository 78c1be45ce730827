package incident_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

var ann = principal.Principal{Kind: principal.Operator, ID: "ann"}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// revoker records revocations.
type revoker struct {
	mu    sync.Mutex
	calls []principal.Principal
	err   error
}

func (r *revoker) RevokePrincipal(_ context.Context, p principal.Principal, _ pki.RevocationReason, _ principal.Principal) (pki.PrincipalRevocation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, p)
	if r.err != nil {
		return pki.PrincipalRevocation{}, r.err
	}
	return pki.PrincipalRevocation{Revoked: []pki.IssuedCert{{Serial: "01"}}}, nil
}

type env struct {
	st  store.Store
	m   *incident.Manager
	clk *clock
	evs *event.MemorySink
	rev *revoker
}

var t0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func newEnvOn(t *testing.T, st store.Store, cfg incident.Config, clk *clock) *env {
	t.Helper()
	evs := &event.MemorySink{}
	rev := &revoker{}
	m, err := incident.New(cfg, incident.Deps{Store: st, Events: event.NewBus(nil, nil, evs), Revoker: rev, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, m: m, clk: clk, evs: evs, rev: rev}
}

func newEnv(t *testing.T, e storetest.Engine, cfg incident.Config) *env {
	t.Helper()
	st := e.Open(t)
	for _, v := range []string{"T1", "T2"} {
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: v, Status: store.VehicleActive, Carrier: "acme", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateClient(ctx, store.Client{ID: "acme-tms", Name: "ACME", Status: store.ClientActive, Carrier: "acme", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, st, cfg, &clock{t: t0})
}

func finding(id, rule, subject string, at time.Time, safety bool) detect.Finding {
	return detect.Finding{ID: id, RuleID: rule, Title: rule + " fired", Severity: codes.SeverityHigh, Safety: safety, SubjectKind: "vehicle",
		Subject: subject, FirstAt: at, At: at, Count: 1, EventIDs: []string{"ev-" + id}, Runbook: "runbook of " + rule}
}

func (e *env) report(t *testing.T, f detect.Finding) {
	t.Helper()
	if err := e.m.Report(ctx, f); err != nil {
		t.Fatalf("Report(%s): %v", f.ID, err)
	}
}

func (e *env) all(t *testing.T) []store.Incident {
	t.Helper()
	l, err := e.m.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) view(t *testing.T, id string) incident.View {
	t.Helper()
	v, err := e.m.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var r *incident.Error
	if !errors.As(err, &r) || r.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// TestGrouping: findings of one subject within the grouping window make
// one incident; a finding after the window, of another subject, or after
// the incident was resolved opens a new one.
func TestGrouping(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{GroupingWindow: time.Hour})
		e.report(t, finding("f1", "replay", "T1", t0, true))
		e.report(t, finding("f2", "bad_signature", "T1", t0.Add(50*time.Minute), false))
		e.report(t, finding("f3", "replay", "T1", t0.Add(100*time.Minute), false)) // within an hour of f2
		l := e.all(t)
		if len(l) != 1 || l[0].State != store.IncidentOpen || len(l[0].RuleIDs) != 2 || !l[0].Safety {
			t.Fatalf("incidents: %+v", l)
		}
		if v := e.view(t, l[0].ID); len(v.Findings) != 3 || len(v.Runbooks) != 2 || v.Runbooks[0].RuleID != "replay" {
			t.Fatalf("findings %d, runbooks %+v", len(v.Findings), v.Runbooks)
		}
		e.report(t, finding("f4", "replay", "T1", t0.Add(161*time.Minute), false)) // 61 min after f3
		e.report(t, finding("f5", "replay", "T2", t0.Add(161*time.Minute), false))
		if l := e.all(t); len(l) != 3 {
			t.Fatalf("%d incidents, want 3", len(l))
		}
		if got := len(e.evs.ByCode(codes.IncidentOpened)); got != 3 {
			t.Fatalf("%d incident_opened events, want 3", got)
		}
		first := e.all(t)[0].ID
		latest, _ := e.st.LatestUnresolvedIncident(ctx, "vehicle", "T2")
		if _, err := e.m.Resolve(ctx, latest.ID, ann, "false positive"); err != nil {
			t.Fatal(err)
		}
		e.report(t, finding("f6", "replay", "T2", t0.Add(162*time.Minute), false))
		if l := e.all(t); len(l) != 4 {
			t.Fatalf("a finding after its subject's incident was resolved: %d incidents, want 4", len(l))
		}
		if first == "" {
			t.Fatal("no first incident")
		}
	})
}

// TestAttackRedeliveredFindingFilesOnce: the detect stream delivers at
// least once; a finding delivered again (after a restart, by another
// holder) changes nothing: no second finding row, no second incident, no
// second incident_opened.
func TestAttackRedeliveredFindingFilesOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		f := finding("f1", "replay", "T1", t0, true)
		for range 3 {
			e.report(t, f)
		}
		// Even after the grouping window, a re-delivered finding stays filed once.
		e.clk.advance(3 * time.Hour)
		e.report(t, f)
		l := e.all(t)
		if len(l) != 1 {
			t.Fatalf("%d incidents from one finding", len(l))
		}
		if v := e.view(t, l[0].ID); len(v.Findings) != 1 {
			t.Fatalf("%d finding rows from one finding", len(v.Findings))
		}
		if got := len(e.evs.ByCode(codes.IncidentOpened)); got != 1 {
			t.Fatalf("%d incident_opened events", got)
		}
	})
}

// TestClocks: clocks run from when the incident opened; safety-relevant
// findings get the 15-minute internal clock; the early warning can be
// turned off.
func TestClocks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		e.report(t, finding("f1", "replay", "T1", t0.Add(-5*time.Minute), true))
		e.report(t, finding("f2", "skew", "T2", t0.Add(-5*time.Minute), false))
		l := e.all(t)
		want := map[string]map[store.IncidentClockKind]time.Duration{
			"T1": {store.ClockInternal: 15 * time.Minute, store.ClockCustomer: time.Hour, store.ClockRegulatorEarlyWarning: 24 * time.Hour, store.ClockRegulator: 72 * time.Hour},
			"T2": {store.ClockInternal: time.Hour, store.ClockCustomer: time.Hour, store.ClockRegulatorEarlyWarning: 24 * time.Hour, store.ClockRegulator: 72 * time.Hour},
		}
		for _, inc := range l {
			v := e.view(t, inc.ID)
			if len(v.Clocks) != 4 {
				t.Fatalf("%s: %d clocks", inc.Subject, len(v.Clocks))
			}
			for _, c := range v.Clocks {
				if d := want[inc.Subject][c.Kind]; !c.DueAt.Equal(t0.Add(d)) || c.Status != incident.ClockPending {
					t.Errorf("%s %s: due %v (%s), want %v pending", inc.Subject, c.Kind, c.DueAt, c.Status, t0.Add(d))
				}
			}
		}
		noEW := newEnvOn(t, e.st, incident.Config{NoEarlyWarning: true, Clocks: incident.Clocks{Regulator: 48 * time.Hour}}, e.clk)
		f := finding("f3", "replay", "T9", t0, false)
		noEW.report(t, f)
		inc, _ := e.st.LatestUnresolvedIncident(ctx, "vehicle", "T9")
		v := noEW.view(t, inc.ID)
		if len(v.Clocks) != 3 || v.Clocks[2].Kind != store.ClockRegulator || !v.Clocks[2].DueAt.Equal(t0.Add(48*time.Hour)) {
			t.Fatalf("without early warning: %+v", v.Clocks)
		}
	})
}

// TestEscalation: with a fake clock, a clock that passes undone is
// escalated once (incident_clock_overdue and a notification record), by
// whichever of two replicas is first; a clock done in time, or of a
// resolved incident, is never escalated; acknowledging does the internal
// clock; recording a notification does its clock.
func TestEscalation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		other := newEnvOn(t, e.st, incident.Config{}, e.clk) // a second replica
		e.report(t, finding("f1", "replay", "T1", t0, true))
		e.report(t, finding("f2", "replay", "T2", t0, true))
		l := e.all(t)
		a, b := l[0], l[1]
		if n, err := e.m.EscalateDue(ctx); err != nil || n != 0 {
			t.Fatalf("nothing is due yet: %d, %v", n, err)
		}
		// b is acknowledged in time: its internal clock is done.
		e.clk.advance(10 * time.Minute)
		if _, err := e.m.Acknowledge(ctx, b.ID, ann, "on it"); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(6 * time.Minute) // 16 min: a's internal clock is overdue
		if v := e.view(t, a.ID); v.Clocks[0].Kind != store.ClockInternal || v.Clocks[0].Status != incident.ClockOverdue {
			t.Fatalf("a's internal clock at 16 min: %+v", v.Clocks[0])
		}
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, m := range []*incident.Manager{e.m, other.m} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := m.EscalateDue(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != 1 {
			t.Fatalf("escalations %v, want exactly one across replicas", counts)
		}
		overdue := append(e.evs.ByCode(codes.IncidentClockOverdue), other.evs.ByCode(codes.IncidentClockOverdue)...)
		if len(overdue) != 1 || overdue[0].Resource != "incident:"+a.ID || overdue[0].Attrs["clock"] != "internal" {
			t.Fatalf("overdue events: %+v", overdue)
		}
		va := e.view(t, a.ID)
		if len(va.Notifications) != 1 || va.Notifications[0].Channel != incident.EscalationChannel || va.Notifications[0].Clock != store.ClockInternal {
			t.Fatalf("a's notifications: %+v", va.Notifications)
		}
		if va.Clocks[0].EscalatedAt.IsZero() || va.Clocks[0].Status != incident.ClockOverdue {
			t.Fatalf("a's internal clock after escalation: %+v", va.Clocks[0])
		}
		if n, _ := e.m.EscalateDue(ctx); n != 0 {
			t.Fatalf("escalated again: %d", n)
		}
		// The customer is told of a in time; b's customer clock passes.
		if err := e.m.Notify(ctx, a.ID, ann, incident.Notification{Clock: store.ClockCustomer, Channel: "email", Recipient: "ops@acme.example", Reference: "T-1"}); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(45 * time.Minute) // 61 min
		if n, err := e.m.EscalateDue(ctx); err != nil || n != 1 {
			t.Fatalf("at 61 min: %d escalations (%v), want b's customer clock", n, err)
		}
		if v := e.view(t, a.ID); v.Clocks[1].Kind != store.ClockCustomer || v.Clocks[1].Status != incident.ClockDone {
			t.Fatalf("a's customer clock: %+v", v.Clocks[1])
		}
		// Resolved incidents are not escalated.
		for _, id := range []string{a.ID, b.ID} {
			if _, err := e.m.Resolve(ctx, id, ann, "contained and re-enrolled"); err != nil {
				t.Fatal(err)
			}
		}
		e.clk.advance(100 * time.Hour)
		if n, _ := e.m.EscalateDue(ctx); n != 0 {
			t.Fatalf("resolved incidents escalated: %d", n)
		}
		if v := e.view(t, b.ID); v.Clocks[2].Status != incident.ClockClosed {
			t.Fatalf("a resolved incident's open clock: %+v", v.Clocks[2])
		}
	})
}

// TestLifecycle: open → acknowledged → contained → resolved with actors
// and reasons; the allowed skips; a resolved incident is final; a lost
// race is incident_state_conflict.
func TestLifecycle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		e.report(t, finding("f1", "replay", "T1", t0, false))
		id := e.all(t)[0].ID
		if _, err := e.m.Resolve(ctx, id, ann, " "); err == nil {
			t.Fatal("resolved without a reason")
		} else {
			wantCode(t, err, codes.IncidentInvalid)
		}
		if _, err := e.m.Acknowledge(ctx, id, ann, "mine"); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.Acknowledge(ctx, id, ann, "again")
		wantCode(t, err, codes.IncidentStateConflict)
		if err := e.m.AddNote(ctx, id, ann, "called the carrier"); err != nil {
			t.Fatal(err)
		}
		inc, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionHoldCommands})
		if err != nil || inc.State != store.IncidentContained {
			t.Fatalf("contain: %+v, %v", inc, err)
		}
		if inc, err = e.m.Resolve(ctx, id, ann, "truck re-enrolled"); err != nil || inc.State != store.IncidentResolved {
			t.Fatalf("resolve: %+v, %v", inc, err)
		}
		_, err = e.m.Acknowledge(ctx, id, ann, "")
		wantCode(t, err, codes.IncidentStateConflict)
		_, err = e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionHoldCommands})
		wantCode(t, err, codes.IncidentStateConflict)
		v := e.view(t, id)
		var path []string
		for _, tr := range v.Transitions {
			path = append(path, string(tr.To)+"/"+tr.Actor)
		}
		if strings.Join(path, " ") != "open/urn:fifthwheel:system:incidents acknowledged/urn:fifthwheel:operator:ann contained/urn:fifthwheel:operator:ann resolved/urn:fifthwheel:operator:ann" {
			t.Fatalf("transitions: %v", path)
		}
		if len(v.Notes) != 1 || v.Notes[0].Actor != ann.String() {
			t.Fatalf("notes: %+v", v.Notes)
		}
		for _, code := range []string{codes.IncidentAcknowledged, codes.IncidentContained, codes.IncidentResolved, codes.IncidentNoteAdded} {
			evs := e.evs.ByCode(code)
			if len(evs) != 1 || evs[0].Actor != ann || evs[0].Class != event.ClassIncident {
				t.Fatalf("%s events: %+v", code, evs)
			}
		}
		// Open → resolved directly (a false positive).
		e.report(t, finding("f2", "replay", "T2", t0, false))
		l, _ := e.m.List(ctx, store.IncidentOpen, "", 0)
		if len(l) != 1 {
			t.Fatalf("open incidents: %+v", l)
		}
		if inc, err := e.m.Resolve(ctx, l[0].ID, ann, "false positive: the truck's clock was reset"); err != nil || inc.State != store.IncidentResolved {
			t.Fatalf("open → resolved: %+v, %v", inc, err)
		}
		if _, err := e.m.Acknowledge(ctx, "inc-ghost", ann, ""); !errors.Is(err, incident.ErrNotFound) {
			t.Fatalf("unknown incident: %v", err)
		}
	})
}

// TestContainment: each action is done, recorded on the incident with its
// actor and recorded as an event; a failure is recorded too; resolving
// releases the incident's hold.
func TestContainment(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		e.report(t, finding("f1", "replay", "T1", t0, true))
		id := e.all(t)[0].ID
		if _, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionRevokeCertificate}); err != nil {
			t.Fatal(err)
		}
		if len(e.rev.calls) != 1 || e.rev.calls[0] != (principal.Principal{Kind: principal.Vehicle, ID: "T1"}) {
			t.Fatalf("revocations: %+v", e.rev.calls)
		}
		if _, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionHoldCommands}); err != nil {
			t.Fatal(err)
		}
		if h, err := e.st.GetVehicleHold(ctx, "T1"); err != nil || h.Incident != id || h.Actor != ann.String() {
			t.Fatalf("hold: %+v, %v", h, err)
		}
		// The subject is a vehicle: suspend_client needs a target.
		_, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionSuspendClient})
		wantCode(t, err, codes.IncidentInvalid)
		if _, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionSuspendClient, Target: "acme-tms"}); err != nil {
			t.Fatal(err)
		}
		if c, _ := e.st.GetClient(ctx, "acme-tms"); c.Status != store.ClientSuspended {
			t.Fatalf("client is %s", c.Status)
		}
		if evs := e.evs.ByCode(codes.ClientStatusChanged); len(evs) != 1 || evs[0].Actor != ann {
			t.Fatalf("client_status_changed: %+v", evs)
		}
		_, err = e.m.Contain(ctx, id, ann, incident.Action{Kind: "wipe_truck"})
		wantCode(t, err, codes.IncidentInvalid)
		e.rev.err = errors.New("store down")
		if _, err := e.m.Contain(ctx, id, ann, incident.Action{Kind: incident.ActionRevokeCertificate, Target: "T2"}); err == nil {
			t.Fatal("a failed revocation reported success")
		}
		v := e.view(t, id)
		var got []string
		for _, c := range v.Containment {
			got = append(got, c.Action+" "+c.Target+" "+strings.SplitN(c.Result, ":", 2)[0]+" "+c.Actor)
		}
		want := []string{
			"revoke_certificate urn:fifthwheel:vehicle:T1 done urn:fifthwheel:operator:ann",
			"hold_commands urn:fifthwheel:vehicle:T1 done urn:fifthwheel:operator:ann",
			"suspend_client urn:fifthwheel:client:acme-tms done urn:fifthwheel:operator:ann",
			"revoke_certificate urn:fifthwheel:vehicle:T2 failed urn:fifthwheel:operator:ann",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("containment:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		evs := e.evs.ByCode(codes.IncidentContainment)
		if len(evs) != 4 || evs[3].Verdict != event.Reject || evs[0].Verdict != event.Accept || evs[0].Actor != ann {
			t.Fatalf("containment events: %+v", evs)
		}
		if v.Incident.State != store.IncidentContained {
			t.Fatalf("state %s", v.Incident.State)
		}
		if _, err := e.m.Resolve(ctx, id, ann, "re-enrolled"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.GetVehicleHold(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the hold outlived its incident: %v", err)
		}
		if last := e.view(t, id).Containment; last[len(last)-1].Action != incident.ActionReleaseHold {
			t.Fatalf("the release is not recorded: %+v", last[len(last)-1])
		}
	})
}

// TestAttackOperatorTextRefused: notes, reasons and notifications over
// their bounds or with control characters are refused and change nothing.
func TestAttackOperatorTextRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{})
		e.report(t, finding("f1", "replay", "T1", t0, true))
		id := e.all(t)[0].ID
		for name, err := range map[string]error{
			"oversized note":             e.m.AddNote(ctx, id, ann, strings.Repeat("a", incident.MaxTextBytes+1)),
			"NUL in note":                e.m.AddNote(ctx, id, ann, "a\x00b"),
			"invalid UTF-8 note":         e.m.AddNote(ctx, id, ann, "\xff"),
			"unknown clock":              e.m.Notify(ctx, id, ann, incident.Notification{Clock: "press", Channel: "email", Recipient: "x"}),
			"channel with a newline":     e.m.Notify(ctx, id, ann, incident.Notification{Clock: store.ClockCustomer, Channel: "a\nb", Recipient: "x"}),
			"notification, no recipient": e.m.Notify(ctx, id, ann, incident.Notification{Clock: store.ClockCustomer, Channel: "email"}),
		} {
			var r *incident.Error
			if !errors.As(err, &r) || r.Code != codes.IncidentInvalid {
				t.Errorf("%s: %v, want incident_invalid", name, err)
			}
		}
		v := e.view(t, id)
		if len(v.Notes) != 0 || len(v.Notifications) != 0 {
			t.Fatalf("a refusal changed the incident: %+v %+v", v.Notes, v.Notifications)
		}
		// Each refusal is one security event, with its actor.
		if evs := e.evs.ByCode(codes.IncidentInvalid); len(evs) != 6 || evs[0].Actor != ann || evs[0].Verdict != event.Reject {
			t.Fatalf("refusal events: %+v", evs)
		}
	})
}
