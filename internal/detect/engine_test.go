package detect

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// TestEveryShippedRuleFiresOnItsScenario: for each shipped rule and each
// of its codes, threshold events of one subject inside the window fire it
// exactly once with that subject; one fewer does not; the same number
// spread wider than the window does not.
func TestEveryShippedRuleFiresOnItsScenario(t *testing.T) {
	for _, r := range Shipped().Rules {
		t.Run(r.ID, func(t *testing.T) {
			for _, code := range r.Match.Codes {
				step := r.Window / time.Duration(2*r.Threshold)
				burst := func(n int64, gap time.Duration) []store.EventRow {
					var rows []store.EventRow
					for i := range n {
						e := about(r.GroupBy, "subj-1", code, t0.Add(time.Duration(i)*gap))
						e.Attrs = attrsOf(r.Match.Attrs)
						rows = append(rows, row(t, e))
					}
					return rows
				}
				one := &RuleSet{Rules: []Rule{r}}
				fs := run(NewEngine(one), burst(r.Threshold, step))
				if len(fs) != 1 {
					t.Fatalf("%s: %d events in the window made %d findings, want 1", code, r.Threshold, len(fs))
				}
				f := fs[0]
				wantSubject := "subj-1"
				if r.GroupBy == GroupGateway {
					wantSubject = SubjectGateway
				}
				if f.RuleID != r.ID || f.Subject != wantSubject || f.Count != int(r.Threshold) || f.Severity != r.Severity ||
					f.Safety != r.Safety || f.Runbook == "" || len(f.EventIDs) == 0 || f.ID == "" {
					t.Fatalf("%s: finding %+v", code, f)
				}
				if r.Threshold > 1 {
					if fs := run(NewEngine(one), burst(r.Threshold-1, step)); len(fs) != 0 {
						t.Fatalf("%s: %d events (one under the threshold) fired %v", code, r.Threshold-1, fs)
					}
					gap := r.Window + r.Window/WindowSlots + time.Second
					if fs := run(NewEngine(one), burst(r.Threshold, gap)); len(fs) != 0 {
						t.Fatalf("%s: %d events each a window apart fired %v", code, r.Threshold, fs)
					}
				}
			}
		})
	}
}

// TestAttackSignatureFailures: three bad signatures in 60 s from one
// vehicle fire frame-signature-failures; three over three minutes, or
// three spread over three vehicles, do not.
func TestAttackSignatureFailures(t *testing.T) {
	eng := NewEngine(Shipped())
	sig := func(v string, at time.Duration) store.EventRow {
		return row(t, about(GroupVehicle, v, "bad_signature", t0.Add(at)))
	}
	if fs := run(eng, []store.EventRow{sig("a", 0), sig("a", 70*time.Second), sig("a", 140*time.Second),
		sig("b", 0), sig("c", time.Second), sig("d", 2*time.Second)}); len(fs) != 0 {
		t.Fatalf("spread signature failures fired %v", fs)
	}
	fs := run(eng, []store.EventRow{sig("e", 0), sig("e", 20*time.Second), sig("e", 40*time.Second)})
	if len(fs) != 1 || fs[0].RuleID != "frame-signature-failures" || fs[0].Subject != "e" || fs[0].SubjectKind != SubjectVehicle ||
		fs[0].Count != 3 || len(fs[0].EventIDs) != 3 || !fs[0].FirstAt.Equal(t0) || !fs[0].At.Equal(t0.Add(40*time.Second)) {
		t.Fatalf("three failures in 40 s: %+v", fs)
	}
}

// attrsOf is an event's attributes that a rule's attrs match.
func attrsOf(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := map[string]any{}
	for k, v := range m {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		} else if b, err := strconv.ParseBool(v); err == nil {
			out[k] = b
		} else {
			out[k] = v
		}
	}
	return out
}

// TestAttackReplayedFrameFiresDuplicateDoesNot: any replay, and a stale
// counter of any frame but telemetry, fires at once; exact re-sends
// (frame_duplicate, the agent's normal recovery) never do, however many.
func TestAttackReplayedFrameFiresDuplicateDoesNot(t *testing.T) {
	eng := NewEngine(Shipped())
	var rows []store.EventRow
	for i := range 500 {
		e := about(GroupVehicle, "v1", codes.FrameDuplicate, t0.Add(time.Duration(i)*100*time.Millisecond))
		e.Verdict = event.Accept
		rows = append(rows, row(t, e))
	}
	if fs := run(eng, rows); len(fs) != 0 {
		t.Fatalf("duplicates fired %v", fs)
	}
	for _, c := range []struct {
		name, code, kind, rule string
	}{
		{"replayed telemetry", codes.Replay, "telemetry", "frame-replay"},
		{"replayed heartbeat", codes.Replay, "heartbeat", "frame-replay"},
		{"stale heartbeat", codes.StaleCounter, "heartbeat", "frame-stale-counter"},
		{"stale command answer", codes.StaleCounter, "command_ack", "frame-stale-counter"},
		{"stale handshake", codes.StaleCounter, "", "frame-stale-counter"},
	} {
		e := about(GroupVehicle, "v-"+c.name, c.code, t0)
		if c.kind != "" {
			e.Attrs = map[string]any{"kind": c.kind, "source": "live", "epoch": 0, "seq": 5}
		}
		fs := run(eng, []store.EventRow{row(t, e)})
		if len(fs) != 1 || fs[0].RuleID != c.rule || !fs[0].Safety {
			t.Fatalf("%s: %+v", c.name, fs)
		}
	}
}

// TestAgentTelemetryResendsDoNotFire: a correct agent's telemetry of
// unknown fate, resent byte for byte after a newer heartbeat was stored,
// is refused stale_counter (the proof it was never stored; the agent signs
// it anew): one outage's worth of such refusals (as many as 640: 64 frames
// in flight and a 256-frame batch, each decided twice) fires nothing. One
// more than that, from one vehicle in the window, fires
// frame-stale-telemetry, not frame-replay.
func TestAgentTelemetryResendsDoNotFire(t *testing.T) {
	stale := func(v string, n int) []store.EventRow {
		var rows []store.EventRow
		for i := range n {
			e := about(GroupVehicle, v, codes.StaleCounter, t0.Add(time.Duration(i)*100*time.Millisecond))
			e.Attrs = map[string]any{"kind": "telemetry", "source": "backfill", "epoch": 0, "seq": 52 + 2*i}
			rows = append(rows, row(t, e))
		}
		return rows
	}
	if fs := run(NewEngine(Shipped()), stale("v1", 640)); len(fs) != 0 {
		t.Fatalf("an outage's resends fired %+v", fs)
	}
	fs := run(NewEngine(Shipped()), stale("v2", 641))
	if len(fs) != 1 || fs[0].RuleID != "frame-stale-telemetry" || fs[0].Safety || fs[0].Subject != "v2" {
		t.Fatalf("641 stale telemetry frames: %+v", fs)
	}
}

// TestAttackUnauthenticatedFloodCountsSummaries: a flood from a host
// without a certificate reaches the store as a few events and one
// aggregated summary with a count; the rule counts the summary as that
// many events.
func TestAttackUnauthenticatedFloodCountsSummaries(t *testing.T) {
	eng := NewEngine(Shipped())
	var rows []store.EventRow
	for i := range event.AggregateIndividually {
		rows = append(rows, row(t, about(GroupSource, "198.51.100.9", codes.TLSNoClientCert, t0.Add(time.Duration(i)*time.Millisecond))))
	}
	if fs := run(eng, rows); len(fs) != 0 {
		t.Fatalf("four refusals fired %v", fs)
	}
	sum := about(GroupSource, "198.51.100.9", codes.TLSNoClientCert, t0.Add(10*time.Second))
	sum.Attrs = map[string]any{"aggregated": true, "count": 996, "total": 1000}
	fs := run(eng, []store.EventRow{row(t, sum)})
	if len(fs) != 1 || fs[0].RuleID != "unauthenticated-flood" || fs[0].SubjectKind != SubjectSource ||
		fs[0].Subject != "198.51.100.9" || fs[0].Count != 1000 {
		t.Fatalf("summary of 996: %+v", fs)
	}
}

// TestAttackCommandVolume: 60 commands in a minute from one client fire
// command-volume; a dispatcher's pace does not.
func TestAttackCommandVolume(t *testing.T) {
	eng := NewEngine(Shipped())
	mk := func(c string, i int, gap time.Duration) store.EventRow {
		return row(t, event.Event{Time: t0.Add(time.Duration(i) * gap), Class: event.ClassCommand, Code: codes.CommandCreated,
			Actor: client(c), Resource: fmt.Sprintf("command:%s-%d", c, i), Verdict: event.Accept})
	}
	var rows []store.EventRow
	for i := range 120 {
		rows = append(rows, mk("calm", i, 2*time.Second)) // 30 a minute for 4 minutes
	}
	if fs := run(eng, rows); len(fs) != 0 {
		t.Fatalf("30 commands a minute fired %v", fs)
	}
	rows = nil
	for i := range 60 {
		rows = append(rows, mk("busy", i, 500*time.Millisecond))
	}
	fs := run(eng, rows)
	if len(fs) != 1 || fs[0].RuleID != "command-volume" || fs[0].SubjectKind != SubjectClient || fs[0].Subject != "busy" {
		t.Fatalf("60 commands in 30 s: %+v", fs)
	}
}

// TestAttackTokenBindingAndRevokedCertificate: one stolen-token use and
// one revoked certificate's attempt each fire.
func TestAttackTokenBindingAndRevokedCertificate(t *testing.T) {
	eng := NewEngine(Shipped())
	tok := row(t, event.Event{Time: t0, Class: event.ClassAuthentication, Code: codes.AccessTokenBindingMismatch,
		Actor: client("tms-1"), Resource: "/v1/vehicles", Verdict: event.Reject})
	rev := row(t, event.Event{Time: t0, Class: event.ClassAuthentication, Code: codes.TLSCertRevoked,
		Actor: vehicle("v9"), Resource: vehicle("v9").String(), Verdict: event.Reject})
	fs := run(eng, []store.EventRow{tok, rev})
	if len(fs) != 2 || fs[0].RuleID != "access-token-binding" || fs[0].Subject != "tms-1" ||
		fs[1].RuleID != "revoked-certificate-attempts" || fs[1].Subject != "v9" {
		t.Fatalf("%+v", fs)
	}
}

// TestQuietAfterFiring: a flood makes one finding per window and key, not
// one per event; after the quiet window the rule fires again.
func TestQuietAfterFiring(t *testing.T) {
	eng := NewEngine(Shipped())
	var rows []store.EventRow
	for i := range 600 { // a replay every second for 10 minutes; frame-replay's window is 10m
		rows = append(rows, row(t, about(GroupVehicle, "v1", codes.Replay, t0.Add(time.Duration(i)*time.Second))))
	}
	if fs := run(eng, rows); len(fs) != 1 {
		t.Fatalf("a 10-minute flood made %d findings, want 1", len(fs))
	}
	fs := run(eng, []store.EventRow{row(t, about(GroupVehicle, "v1", codes.Replay, t0.Add(10*time.Minute+time.Second)))})
	if len(fs) != 1 {
		t.Fatalf("after the quiet window: %v", fs)
	}
}

// TestRulesNeverSeeDetectionEvents: a rule can never match the engine's
// own events, so findings cannot loop.
func TestRulesNeverSeeDetectionEvents(t *testing.T) {
	f := Finding{ID: "x", RuleID: "frame-replay", SubjectKind: SubjectVehicle, Subject: "v1", At: t0, FirstAt: t0, Count: 1}
	r := row(t, FindingEvent(f))
	loose := &RuleSet{Rules: []Rule{{ID: "all", Match: Match{Codes: []string{codes.Replay}}, GroupBy: GroupGateway, Window: time.Minute, Threshold: 1}}}
	r.Code = codes.Replay // even disguised
	if fs := NewEngine(loose).Evaluate(InputOf(r), true); len(fs) != 0 {
		t.Fatalf("a detection event fired %v", fs)
	}
}

// TestFindingIDStable: the id depends on the rule, subject and window's
// first event only, so the same events give the same id.
func TestFindingIDStable(t *testing.T) {
	rows := []store.EventRow{row(t, about(GroupVehicle, "v", "bad_signature", t0)), row(t, about(GroupVehicle, "v", "bad_signature", t0.Add(time.Second))),
		row(t, about(GroupVehicle, "v", "bad_signature", t0.Add(2*time.Second)))}
	a, b := run(NewEngine(Shipped()), rows), run(NewEngine(Shipped()), rows)
	if len(a) != 1 || len(b) != 1 || a[0].ID != b[0].ID || a[0].ID != findingID("frame-signature-failures", SubjectVehicle, "v", rows[0].ID) {
		t.Fatalf("%v %v", a, b)
	}
	// A peek makes the same finding as the commit that follows it, and
	// changes nothing.
	eng := NewEngine(Shipped())
	run(eng, rows[:2])
	p1 := eng.Evaluate(InputOf(rows[2]), false)
	p2 := eng.Evaluate(InputOf(rows[2]), false)
	c := eng.Evaluate(InputOf(rows[2]), true)
	if len(p1) != 1 || len(p2) != 1 || len(c) != 1 || p1[0].ID != c[0].ID || p2[0].ID != c[0].ID {
		t.Fatalf("peek %v %v commit %v", p1, p2, c)
	}
}

// TestAttackKeySprayIsBounded: a spray of distinct sources cannot grow the
// key table past its bound; beyond it events count in the rule's overflow
// window, which fires on the spray itself.
func TestAttackKeySprayIsBounded(t *testing.T) {
	set := &RuleSet{Rules: []Rule{{ID: "flood", Description: "d", Severity: codes.SeverityMedium, Runbook: "r",
		Match: Match{Codes: []string{codes.TLSNoClientCert}}, GroupBy: GroupSource, Window: time.Minute, Threshold: 50}}}
	eng := NewEngine(set)
	var fs []Finding
	n := MaxKeysPerRule + 100
	for i := range n {
		e := about(GroupSource, fmt.Sprintf("src-%d", i), codes.TLSNoClientCert, t0.Add(time.Duration(i)*time.Microsecond))
		fs = append(fs, eng.Evaluate(InputOf(row(t, e)), true)...)
	}
	if eng.Keys() > MaxKeysPerRule+1 {
		t.Fatalf("%d keys held, bound %d (+1 overflow)", eng.Keys(), MaxKeysPerRule)
	}
	if len(fs) != 1 || fs[0].Subject != overflowSubject || eng.Stats().Overflowed < 50 {
		t.Fatalf("findings %v stats %+v", fs, eng.Stats())
	}
	// Once the windows are idle, new keys evict old ones instead.
	later := t0.Add(3 * time.Minute)
	for i := range 10 {
		eng.Evaluate(InputOf(row(t, about(GroupSource, fmt.Sprintf("new-%d", i), codes.TLSNoClientCert, later))), true)
	}
	if eng.Stats().Evicted < 10 {
		t.Fatalf("idle keys not evicted: %+v", eng.Stats())
	}
}

// TestGroupingFallsBackToSubject: an event without the identity a rule
// groups by is counted under its subject, never dropped.
func TestGroupingFallsBackToSubject(t *testing.T) {
	set := &RuleSet{Rules: []Rule{{ID: "x", Match: Match{Codes: []string{codes.Replay}}, GroupBy: GroupVehicle, Window: time.Minute, Threshold: 1}}}
	e := event.Event{Time: t0, Class: event.ClassAPI, Code: codes.Replay, Source: "192.0.2.1"}
	fs := NewEngine(set).Evaluate(InputOf(row(t, e)), true)
	if len(fs) != 1 || fs[0].SubjectKind != SubjectSource || fs[0].Subject != "192.0.2.1" {
		t.Fatalf("%+v", fs)
	}
	// attrs.vehicle (command events) names the vehicle.
	c := event.Event{Time: t0, Class: event.ClassCommand, Code: codes.Replay, Actor: client("c"), Resource: "command:1", Attrs: map[string]any{"vehicle": "v7"}}
	fs = NewEngine(set).Evaluate(InputOf(row(t, c)), true)
	if len(fs) != 1 || fs[0].SubjectKind != SubjectVehicle || fs[0].Subject != "v7" {
		t.Fatalf("%+v", fs)
	}
}

// TestMatchAttrsAndVerdict: attribute equality and verdict narrow a rule.
func TestMatchAttrsAndVerdict(t *testing.T) {
	set, err := ParseRules([]byte(`rules:
  - id: hs256-frames
    description: low-assurance frames refused
    severity: low
    match: {codes: [clock_skew], verdict: reject, attrs: {source: live, seq: 7}}
    group_by: vehicle
    window: 1m
    threshold: 1
    runbook: r
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(v event.Verdict, attrs map[string]any) store.EventRow {
		e := about(GroupVehicle, "v", codes.ClockSkew, t0)
		e.Verdict, e.Attrs = v, attrs
		return row(t, e)
	}
	for name, c := range map[string]struct {
		r    store.EventRow
		want int
	}{
		"all match":     {mk(event.Reject, map[string]any{"source": "live", "seq": 7}), 1},
		"other verdict": {mk(event.Info, map[string]any{"source": "live", "seq": 7}), 0},
		"other attr":    {mk(event.Reject, map[string]any{"source": "backfill", "seq": 7}), 0},
		"missing attr":  {mk(event.Reject, map[string]any{"source": "live"}), 0},
	} {
		if fs := NewEngine(set).Evaluate(InputOf(c.r), true); len(fs) != c.want {
			t.Errorf("%s: %d findings, want %d", name, len(fs), c.want)
		}
	}
}

// TestMatchExceptAttrs: except_attrs leaves out events whose attribute
// equals the value; an event without the attribute still matches.
func TestMatchExceptAttrs(t *testing.T) {
	set, err := ParseRules([]byte(`rules:
  - id: stale-not-telemetry
    description: stale frames but telemetry
    severity: high
    match: {codes: [stale_counter], except_attrs: {kind: telemetry, seq: 7}}
    group_by: vehicle
    window: 1m
    threshold: 1
    runbook: r
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(attrs map[string]any) store.EventRow {
		e := about(GroupVehicle, "v", codes.StaleCounter, t0)
		e.Attrs = attrs
		return row(t, e)
	}
	for name, c := range map[string]struct {
		r    store.EventRow
		want int
	}{
		"other kind":      {mk(map[string]any{"kind": "heartbeat", "seq": 8}), 1},
		"no attributes":   {mk(nil), 1},
		"excluded kind":   {mk(map[string]any{"kind": "telemetry", "seq": 8}), 0},
		"excluded number": {mk(map[string]any{"kind": "heartbeat", "seq": 7}), 0},
	} {
		if fs := NewEngine(set).Evaluate(InputOf(c.r), true); len(fs) != c.want {
			t.Errorf("%s: %d findings, want %d", name, len(fs), c.want)
		}
	}
}

// TestNormalFleetHourOpensNothing: an hour of a healthy fleet's events
// (50 vehicles, 3 TMS clients, 2 operators, a planned restart in the
// middle) fires no rule. The stream is synthetic and time-scaled: its
// events carry the times of an hour starting at t0, and the engine counts
// in event time, so the hour runs in well under a second. The mix is what
// `fifthwheel sim fleet` against a gateway records: accepted-frame
// summaries every 10 s per vehicle, exact re-sends answered as duplicates
// (bursts of them after a lost ack), late heartbeats now and then,
// each session's boot in safe_state and the gateway's resume,
// reconnects (a superseded session included), token issuance and the odd
// expired token, commands at a dispatcher's pace with their lifecycle,
// tenders and stop events, a few operator changes, and a planned restart
// that closes every session with gateway_shutdown.
func TestNormalFleetHourOpensNothing(t *testing.T) {
	rows := normalHour(t, 50, 3)
	fs := run(NewEngine(Shipped()), rows)
	if len(fs) != 0 {
		var b strings.Builder
		for _, f := range fs[:min(len(fs), 10)] {
			fmt.Fprintf(&b, "\n  %s %s/%s count %d", f.RuleID, f.SubjectKind, f.Subject, f.Count)
		}
		t.Fatalf("a normal hour (%d events) made %d findings:%s", len(rows), len(fs), b.String())
	}
	if len(rows) < 20_000 {
		t.Fatalf("only %d events: not an hour of a fleet", len(rows))
	}
	// The control: the same hour with one replayed frame in the middle
	// makes exactly that finding, so the quiet above is the rules' and not
	// a stream the engine ignores.
	mid := len(rows) / 2
	replay := row(t, about(GroupVehicle, "truck-007", codes.Replay, rows[mid].Time))
	withReplay := append(append(append([]store.EventRow{}, rows[:mid]...), replay), rows[mid:]...)
	if fs := run(NewEngine(Shipped()), withReplay); len(fs) != 1 || fs[0].RuleID != "frame-replay" || fs[0].Subject != "truck-007" {
		t.Fatalf("the hour with a replay: %+v", fs)
	}
}

// normalHour is the event stream of a healthy fleet's hour, in time order.
func normalHour(t testing.TB, vehicles, clients int) []store.EventRow {
	type timed struct {
		at time.Duration
		e  event.Event
	}
	var evs []timed
	add := func(at time.Duration, e event.Event) { evs = append(evs, timed{at, e}) }
	ops := []string{"alice", "bob"}
	restart := 30 * time.Minute
	add(0, event.Event{Class: event.ClassSystem, Code: codes.GatewayStarted, Actor: systemActor})
	for v := range vehicles {
		id := fmt.Sprintf("truck-%03d", v)
		p := vehicle(id)
		off := time.Duration(v) * 37 * time.Millisecond
		connect := func(at time.Duration) {
			add(at, event.Event{Class: event.ClassAuthentication, Code: codes.TLSAccepted, Actor: p, Resource: p.String(), Verdict: event.Accept})
			add(at, event.Event{Class: event.ClassLiveness, Code: codes.SessionEstablished, Actor: p, Resource: p.String(), Verdict: event.Accept})
			add(at+time.Second, event.Event{Class: event.ClassLiveness, Code: codes.VehicleOnline, Actor: systemActor, Resource: p.String()})
			// The agent boots in its safe state; the gateway resumes it
			// once the session is stable.
			add(at+time.Second, event.Event{Class: event.ClassLiveness, Code: codes.VehicleSafeState, Actor: systemActor, Resource: p.String(),
				Attrs: map[string]any{"from": "online", "to": "safe_state", "cause": "safe_state_report"}})
			add(at+3*time.Second, event.Event{Class: event.ClassLiveness, Code: codes.SessionResumeSent, Actor: systemActor, Resource: p.String(),
				Attrs: map[string]any{"by": "policy"}})
		}
		connect(off)
		for at := 10 * time.Second; at < time.Hour; at += 10 * time.Second {
			add(at+off, event.Event{Class: event.ClassTelemetry, Code: codes.FramesAcceptedSummary, Actor: p, Resource: p.String(),
				Verdict: event.Accept, Attrs: map[string]any{"frames": 10}})
		}
		// Lost acks: a burst of re-sends every 6 minutes.
		for at := time.Duration(v%6)*time.Minute + 3*time.Minute; at < time.Hour; at += 6 * time.Minute {
			for i := range 5 {
				add(at+time.Duration(i)*100*time.Millisecond, event.Event{Class: event.ClassTelemetry, Code: codes.FrameDuplicate,
					Actor: p, Resource: p.String(), Verdict: event.Accept})
			}
		}
		// A late heartbeat every 20 minutes; one reconnect, superseding
		// the old session once.
		for at := time.Duration(v%20)*time.Minute + time.Minute; at < time.Hour; at += 20 * time.Minute {
			add(at, event.Event{Class: event.ClassLiveness, Code: codes.VehicleSuspect, Actor: systemActor, Resource: p.String()})
			add(at+2*time.Second, event.Event{Class: event.ClassLiveness, Code: codes.VehicleOnline, Actor: systemActor, Resource: p.String()})
		}
		re := 40*time.Minute + off
		add(re, event.Event{Class: event.ClassLiveness, Code: codes.SessionSuperseded, Actor: p, Resource: p.String(), Verdict: event.Info})
		connect(re)
		// The planned restart.
		add(restart, event.Event{Class: event.ClassLiveness, Code: codes.GatewayShutdown, Actor: p, Resource: p.String(), Verdict: event.Info})
		add(restart+time.Second, event.Event{Class: event.ClassLiveness, Code: codes.SessionClosed, Actor: p, Resource: p.String()})
		connect(restart + 5*time.Second + off)
	}
	add(restart+time.Second, event.Event{Class: event.ClassSystem, Code: codes.GatewayStopped, Actor: systemActor})
	add(restart+3*time.Second, event.Event{Class: event.ClassSystem, Code: codes.GatewayStarted, Actor: systemActor})
	for c := range clients {
		p := client(fmt.Sprintf("tms-%d", c))
		for at := time.Duration(c) * time.Second; at < time.Hour; at += 5 * time.Minute {
			add(at, event.Event{Class: event.ClassAuthentication, Code: codes.AccessTokenIssued, Actor: p, Resource: p.String(), Verdict: event.Accept})
		}
		for at := 7 * time.Minute; at < time.Hour; at += 15 * time.Minute { // a token used just past its expiry now and then
			add(at, event.Event{Class: event.ClassAuthentication, Code: codes.AccessTokenExpired, Actor: p, Resource: "/v1/vehicles", Verdict: event.Reject})
		}
		n := 0
		for at := time.Duration(c)*3*time.Second + 20*time.Second; at < time.Hour; at += 20 * time.Second {
			n++
			cmd := fmt.Sprintf("command:%d-%d", c, n)
			attrs := map[string]any{"vehicle": fmt.Sprintf("truck-%03d", n%vehicles)}
			for i, code := range []string{codes.CommandCreated, codes.CommandQueued, codes.CommandDelivered, codes.CommandAccepted} {
				add(at+time.Duration(i)*200*time.Millisecond, event.Event{Class: event.ClassCommand, Code: code, Actor: p, Resource: cmd, Attrs: attrs})
			}
			if n%10 == 0 {
				add(at, event.Event{Class: event.ClassCommand, Code: codes.TenderAccepted, Actor: p, Resource: fmt.Sprintf("tender:%d-%d", c, n)})
				add(at+time.Minute, event.Event{Class: event.ClassCommand, Code: codes.ShipmentStatusRecorded, Actor: vehicle(fmt.Sprintf("truck-%03d", n%vehicles)),
					Resource: fmt.Sprintf("tender:%d-%d", c, n), Verdict: event.Accept})
			}
		}
	}
	for i, o := range ops {
		p := operator(o)
		for j := range 3 {
			add(time.Duration(10+i*20+j)*time.Minute, event.Event{Class: event.ClassAuthorization, Code: codes.RolesChanged, Actor: p,
				Resource: client(fmt.Sprintf("tms-%d", j)).String()})
		}
		add(time.Duration(15+i*20)*time.Minute, event.Event{Class: event.ClassPKI, Code: codes.CertIssued, Actor: p, Resource: vehicle("spare").String()})
	}
	// Time order, as the stream delivers them (within a few ms).
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	rows := make([]store.EventRow, len(evs))
	for i, te := range evs {
		te.e.Time = t0.Add(te.at)
		rows[i] = row(t, te.e)
	}
	return rows
}
