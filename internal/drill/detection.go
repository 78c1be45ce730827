package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Detection is what the detection drills need of the gateway: its
// incident record and event stream (its store), an operator's containment
// action, and the SIEM sinks it delivers to.
type Detection struct {
	Store DetectionStore
	// Contain takes containment action (revoke_certificate,
	// hold_commands, ...) on incident id as `fifthwheel incidents contain
	// ID --action A` does, as the drill's operator.
	Contain func(ctx context.Context, incidentID, action string) error
	// Sinks are the stream consumers of the SIEM sinks the gateway is
	// configured with (sink:ocsf-file, sink:webhook, sink:syslog,
	// sink:nats): the SIEM drill checks that each one delivered the
	// incident.
	Sinks []string
	// Receiver, if set, is the SIEM webhook receiver the gateway delivers
	// to (the in-process gateway's, whose siem.webhook.url it is): the
	// SIEM drill checks the incident arrived there, signed. Against a
	// running gateway the drill cannot see its receiver and checks the
	// webhook sink's cursor and dead letters instead.
	Receiver *WebhookReceiver
}

// DetectionStore is what the detection drills read of the gateway's store.
type DetectionStore interface {
	LatestUnresolvedIncident(ctx context.Context, subjectKind, subject string) (store.Incident, error)
	IncidentRecord(ctx context.Context, id string) (store.IncidentRecord, error)
	EventStreamHead(ctx context.Context) (store.StreamPos, error)
	ReadEventStream(ctx context.Context, after store.StreamPos, limit int) ([]store.StreamEvent, error)
	StreamConsumers(ctx context.Context) ([]store.StreamConsumer, error)
	SIEMDeadLetters(ctx context.Context, sink string, afterID int64, limit int) ([]store.SIEMDeadLetter, error)
}

// The names the detection drills look for: the rules a replay and a burst
// of bad signatures fire (internal/detect/rules.yaml).
const (
	ruleReplay        = "frame-replay"
	ruleSignatures    = "frame-signature-failures"
	subjectVehicle    = "vehicle"
	actionRevoke      = "revoke_certificate"
	incidentSubjectOf = "incident:"
)

// detection returns t's Detection, or an error saying the target gives
// none.
func (t *Target) detection() (*Detection, error) {
	d := t.Detection
	if d == nil || d.Store == nil || d.Contain == nil {
		return nil, errors.New("the target gives no access to the gateway's incidents (Target.Detection)")
	}
	return d, nil
}

// replayIncidentDrill: a truck replays a stored frame's (epoch, seq) with
// other bytes. The gateway refuses it (replay), and its detection opens an
// incident about the vehicle within IncidentSLA of the replay, with the
// frame-replay finding (naming the refusal event), its runbook, and the
// notification clocks running from its start.
func replayIncidentDrill(ctx context.Context, t *Target, p *Probe) error {
	d, err := t.detection()
	if err != nil {
		return err
	}
	v, err := enroll(ctx, t, "replay-incident")
	if err != nil {
		return err
	}
	defer v.close()
	inc, _, err := replayToIncident(ctx, t, d, p, v, freshEpoch, 1, true)
	if err != nil || inc.ID == "" {
		return err
	}
	rec, err := d.Store.IncidentRecord(ctx, inc.ID)
	if err != nil {
		return fmt.Errorf("read incident %s: %w", inc.ID, err)
	}
	p.Check("the incident's state", string(store.IncidentOpen), string(rec.Incident.State))
	if err := awaitEvent(ctx, t, p, codes.IncidentOpened, incidentSubjectOf+inc.ID, nil); err != nil {
		return err
	}
	refusal, found, err := findEvent(ctx, t.Events, codes.Replay, v.subject(), nil)
	if err != nil {
		return err
	}
	var f store.IncidentFinding
	for _, x := range rec.Findings {
		if x.RuleID == ruleReplay {
			f = x
		}
	}
	p.Check("the finding names the refusal event", "yes", yesNo(found && slices.Contains(f.EventIDs, refusal.ID)))
	p.Check("the finding carries its runbook", "yes", yesNo(strings.TrimSpace(f.Runbook) != ""))
	var kinds []string
	for _, c := range rec.Clocks {
		if !c.DueAt.After(rec.Incident.OpenedAt) {
			kinds = append(kinds, string(c.Kind)+" (due before the incident opened)")
			continue
		}
		kinds = append(kinds, string(c.Kind))
	}
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	for _, k := range []store.IncidentClockKind{store.ClockInternal, store.ClockCustomer, store.ClockRegulator} {
		p.Check("notification clock "+string(k)+" runs from the incident's start", "yes", yesNo(slices.Contains(kinds, string(k))))
	}
	return nil
}

// detectionRulesDrill: a truck sends a burst of frames whose bytes differ
// from those signed, then an exact re-send of its accepted frame, then a
// replay. The burst opens an incident with the signature-failures finding;
// the exact re-send (what a correct agent does after a lost answer) is a
// duplicate and fires nothing, once the detection consumer has read past
// it; the replay is added to the same incident (findings group by subject
// and time).
func detectionRulesDrill(ctx context.Context, t *Target, p *Probe) error {
	d, err := t.detection()
	if err != nil {
		return err
	}
	v, err := enroll(ctx, t, "detection-rules")
	if err != nil {
		return err
	}
	defer v.close()
	now := time.Now()
	first := v.frameAt(v.id, freshEpoch, 1, now, 0)
	env, err := v.sign(first)
	if err != nil {
		return err
	}
	got, err := v.post(ctx, env)
	if err != nil {
		return err
	}
	if !p.Check("set-up frame (epoch 0, seq 1)", accepted, got.String()) {
		return errors.New("the set-up frame was not accepted")
	}
	start := time.Now()
	for seq := uint64(2); seq <= 4; seq++ {
		signed := v.frameAt(v.id, freshEpoch, seq, now, 0)
		bad, err := v.signOver(v.frameAt(v.id, freshEpoch, seq, now, 7000), signed)
		if err != nil {
			return err
		}
		got, err := v.post(ctx, bad)
		if err != nil {
			return err
		}
		p.Check(fmt.Sprintf("tampered frame %d: the gateway's answer", seq-1), rejected(string(frame.CodeBadSignature)), got.String())
	}
	inc, ok, err := awaitIncident(ctx, d, p, v.id, ruleSignatures, start, IncidentSLA+p.eventWait)
	if err != nil || !ok {
		return err
	}
	p.Timing("incident opened after the first bad signature", inc.seen.Sub(start), 0)
	if err := awaitEvent(ctx, t, p, string(frame.CodeBadSignature), v.subject(), nil); err != nil {
		return err
	}
	if err := awaitEvent(ctx, t, p, codes.IncidentOpened, incidentSubjectOf+inc.ID, nil); err != nil {
		return err
	}

	// The exact re-send: a duplicate, and no finding.
	got, err = v.post(ctx, env)
	if err != nil {
		return err
	}
	p.Check("exact re-send of the accepted frame: the gateway's answer", accepted+":duplicate", got.String())
	if err := awaitDetectionPast(ctx, d, p); err != nil {
		return err
	}
	cur, err := d.Store.LatestUnresolvedIncident(ctx, subjectVehicle, v.id)
	if err != nil {
		return fmt.Errorf("read the vehicle's incident: %w", err)
	}
	p.Check("the exact re-send fired no rule", strings.Join([]string{ruleSignatures}, ","), strings.Join(cur.RuleIDs, ","))

	// The replay joins the same incident.
	replayed, err := v.sign(v.frameAt(v.id, freshEpoch, 1, now, 1))
	if err != nil {
		return err
	}
	if got, err = v.post(ctx, replayed); err != nil {
		return err
	}
	p.Check("same (epoch, seq), other bytes: the gateway's answer", rejected(codes.Replay), got.String())
	joined, ok, err := awaitIncident(ctx, d, p, v.id, ruleReplay, time.Now(), IncidentSLA+p.eventWait)
	if err != nil || !ok {
		return err
	}
	p.Check("the replay's finding joins the vehicle's incident", inc.ID, joined.ID)
	return nil
}

// containmentDrill: a truck on the agent SDK is in session; a replay of
// its (epoch, seq) opens an incident; an operator contains it by revoking
// the vehicle's certificate from the incident. The live session must close
// within RevocationSLA with the typed close, the revoked certificate's next
// handshake must be refused, and the incident must record the action with
// its actor and be contained.
func containmentDrill(ctx context.Context, t *Target, p *Probe) error {
	d, err := t.detection()
	if err != nil {
		return err
	}
	v, err := enroll(ctx, t, "containment")
	if err != nil {
		return err
	}
	defer v.close()
	tr, err := startTruck(ctx, t, v, &silentLink{})
	if err != nil {
		return err
	}
	defer tr.stop()
	// The truck sends a telemetry frame; once the gateway has stored it,
	// the drill replays its (epoch, seq) with other bytes.
	if err := tr.a.SendTelemetry(time.Now(), *telemetry(0)); err != nil {
		return fmt.Errorf("the drill truck's telemetry: %w", err)
	}
	var ack agent.TelemetryAck
	select {
	case ack = <-tr.acked:
	case <-time.After(p.eventWait):
		p.Check("the truck's telemetry frame acknowledged", "acknowledged", "no answer")
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	inc, _, err := replayToIncident(ctx, t, d, p, v, ack.Epoch, ack.Seq, false)
	if err != nil || inc.ID == "" {
		return err
	}
	start := time.Now()
	if err := d.Contain(ctx, inc.ID, actionRevoke); err != nil {
		p.Check("containment "+actionRevoke, "done", "error: "+err.Error())
		return nil
	}
	if err := cutOff(ctx, t, p, v, tr, start); err != nil {
		return err
	}
	rec, err := d.Store.IncidentRecord(ctx, inc.ID)
	if err != nil {
		return fmt.Errorf("read incident %s: %w", inc.ID, err)
	}
	p.Check("the incident's state", string(store.IncidentContained), string(rec.Incident.State))
	var act store.IncidentContainment
	for _, c := range rec.Containment {
		if c.Action == actionRevoke {
			act = c
		}
	}
	p.Check("the containment action on record", actionRevoke+" of "+v.subject()+": done",
		fmt.Sprintf("%s of %s: %s", act.Action, act.Target, strings.SplitN(act.Result, ":", 2)[0]))
	p.Check("the action names its actor", "yes", yesNo(act.Actor != ""))
	return awaitEvent(ctx, t, p, codes.IncidentContainment, incidentSubjectOf+inc.ID, nil)
}

// siemDrill: a replay's incident reaches the SIEM. The gateway's
// incident_opened event (OCSF Incident Finding, 2005) must be delivered by
// every SIEM sink the gateway is configured with, a webhook among them:
// each sink's cursor passes it and no dead letter holds it; with the
// drill's own receiver (an in-process gateway), the receiver got it in a
// batch whose signature verified, naming the incident.
func siemDrill(ctx context.Context, t *Target, p *Probe) error {
	d, err := t.detection()
	if err != nil {
		return err
	}
	if !p.Check("the gateway delivers to a SIEM webhook (siem.webhook.url)", "yes", yesNo(slices.Contains(d.Sinks, siem.SinkWebhook))) {
		return nil
	}
	v, err := enroll(ctx, t, "siem")
	if err != nil {
		return err
	}
	defer v.close()
	from, err := d.Store.EventStreamHead(ctx)
	if err != nil {
		return err
	}
	inc, sent, err := replayToIncident(ctx, t, d, p, v, freshEpoch, 1, true)
	if err != nil || inc.ID == "" {
		return err
	}
	ev, ok, err := streamEvent(ctx, d, from, codes.IncidentOpened, incidentSubjectOf+inc.ID, p.siemWait())
	if err != nil {
		return err
	}
	if !p.Check("incident_opened in the gateway's event stream", "found", map[bool]string{true: "found", false: "none"}[ok]) {
		return nil
	}
	p.Event(ev.EventRow)
	if r := d.Receiver; r != nil {
		got, ok := awaitReceived(ctx, r, ev.ID, p.siemWait())
		if !p.Check("the SIEM webhook receiver got the incident in a verified batch", "received", map[bool]string{true: "received", false: "not received"}[ok]) {
			return nil
		}
		p.Timing("incident at the SIEM webhook receiver after the replay", got.At.Sub(sent), 0)
		p.Check("its OCSF class", "2005 Incident Finding", fmt.Sprintf("%d Incident Finding", got.ClassUID))
		p.Check("it names the incident", "fifthwheel:incident:"+inc.ID, got.SrcURL)
	}
	for _, sink := range d.Sinks {
		pos, ok, err := awaitConsumer(ctx, d, sink, ev.Pos, p.siemWait())
		if err != nil {
			return err
		}
		p.Check(sink+" delivered the incident (its cursor passed it)", fmt.Sprintf("at or past %d", ev.Pos),
			map[bool]string{true: fmt.Sprintf("at or past %d", ev.Pos), false: fmt.Sprintf("at %d", pos)}[ok])
		dead, err := deadLettered(ctx, d, sink, ev.Pos)
		if err != nil {
			return err
		}
		p.Check(sink+": no dead letter holds it", "none", dead)
	}
	return nil
}

// replayToIncident posts a frame at (epoch, seq) that must be accepted
// (with setUp; else the vehicle's truck stored one there), then another
// frame, other bytes, at the same (epoch, seq), which must be refused
// replay, and waits for the vehicle's incident with the frame-replay
// finding, checking it came within IncidentSLA of the replay. It returns
// the incident (ID "" when none came: the check failed) and when the
// replay was sent.
func replayToIncident(ctx context.Context, t *Target, d *Detection, p *Probe, v *vehicle, epoch, seq uint64, setUp bool) (seenIncident, time.Time, error) {
	now := time.Now()
	if setUp {
		if err := v.setUp(ctx, p, v.frameAt(v.id, epoch, seq, now, 0)); err != nil {
			return seenIncident{}, time.Time{}, err
		}
	}
	env, err := v.sign(v.frameAt(v.id, epoch, seq, now, 1))
	if err != nil {
		return seenIncident{}, time.Time{}, err
	}
	sent := time.Now()
	got, err := v.post(ctx, env)
	if err != nil {
		return seenIncident{}, sent, err
	}
	p.Check(fmt.Sprintf("(epoch %d, seq %d) again, other bytes: the gateway's answer", epoch, seq), rejected(codes.Replay), got.String())
	if err := awaitEvent(ctx, t, p, codes.Replay, v.subject(), nil); err != nil {
		return seenIncident{}, sent, err
	}
	inc, ok, err := awaitIncident(ctx, d, p, v.id, ruleReplay, sent, IncidentSLA+p.eventWait)
	if err != nil || !ok {
		return seenIncident{}, sent, err
	}
	p.Timing("incident opened after the replay", inc.seen.Sub(sent), IncidentSLA)
	return inc, sent, nil
}

// siemWait is how long a drill waits for a SIEM sink to deliver.
func (p *Probe) siemWait() time.Duration { return siemWaitFactor * p.eventWait }

// seenIncident is an incident and when the drill first saw it.
type seenIncident struct {
	store.Incident
	seen time.Time
}

// awaitIncident waits up to wait for an unresolved incident about vehicle
// id holding a finding of rule, and checks it came; ok is false (and the
// check failed) if none did.
func awaitIncident(ctx context.Context, d *Detection, p *Probe, id, rule string, since time.Time, wait time.Duration) (seenIncident, bool, error) {
	deadline := since.Add(wait)
	for {
		inc, err := d.Store.LatestUnresolvedIncident(ctx, subjectVehicle, id)
		switch {
		case err == nil && slices.Contains(inc.RuleIDs, rule):
			seen := time.Now()
			p.Check("an incident about the vehicle with the "+rule+" finding ("+inc.ID+")", "opened", "opened")
			return seenIncident{inc, seen}, true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return seenIncident{}, false, fmt.Errorf("read the vehicle's incident: %w", err)
		}
		if time.Now().After(deadline) {
			got := "none"
			if err == nil {
				got = "an incident without it (" + strings.Join(inc.RuleIDs, ",") + ")"
			}
			p.Check("an incident about the vehicle with the "+rule+" finding", "opened", got)
			return seenIncident{}, false, nil
		}
		if err := sleep(ctx, incidentPoll); err != nil {
			return seenIncident{}, false, err
		}
	}
}

// awaitDetectionPast waits until the detection consumer has read every
// event stored so far, and checks it did.
func awaitDetectionPast(ctx context.Context, d *Detection, p *Probe) error {
	head, err := d.Store.EventStreamHead(ctx)
	if err != nil {
		return err
	}
	pos, ok, err := awaitConsumer(ctx, d, detect.ConsumerName, head, p.siemWait())
	if err != nil {
		return err
	}
	p.Check("the detection consumer read past the re-send", fmt.Sprintf("at or past %d", head),
		map[bool]string{true: fmt.Sprintf("at or past %d", head), false: fmt.Sprintf("at %d", pos)}[ok])
	return nil
}

// awaitConsumer waits up to wait for consumer name's cursor to reach pos;
// it returns the cursor last seen.
func awaitConsumer(ctx context.Context, d *Detection, name string, pos store.StreamPos, wait time.Duration) (store.StreamPos, bool, error) {
	deadline := time.Now().Add(wait)
	var at store.StreamPos
	for {
		cs, err := d.Store.StreamConsumers(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("read the stream consumers: %w", err)
		}
		for _, c := range cs {
			if c.Name == name {
				at = c.Pos
			}
		}
		if at >= pos {
			return at, true, nil
		}
		if time.Now().After(deadline) {
			return at, false, nil
		}
		if err := sleep(ctx, incidentPoll); err != nil {
			return at, false, err
		}
	}
}

// streamEvent finds the event with code about subject in the stream after
// from.
func streamEvent(ctx context.Context, d *Detection, from store.StreamPos, code, subject string, wait time.Duration) (store.StreamEvent, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		after := from
		for {
			evs, err := d.Store.ReadEventStream(ctx, after, 500)
			if err != nil {
				return store.StreamEvent{}, false, fmt.Errorf("read the event stream: %w", err)
			}
			for _, e := range evs {
				if e.Code == code && e.Subject == subject {
					return e, true, nil
				}
			}
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].Pos
		}
		// PostgreSQL numbers an event in the stream just after its
		// commit: it may be stored and not yet readable there.
		if time.Now().After(deadline) {
			return store.StreamEvent{}, false, nil
		}
		if err := sleep(ctx, incidentPoll); err != nil {
			return store.StreamEvent{}, false, err
		}
	}
}

// deadLettered returns "none", or the dead letter of sink holding pos.
func deadLettered(ctx context.Context, d *Detection, sink string, pos store.StreamPos) (string, error) {
	var after int64
	for {
		ds, err := d.Store.SIEMDeadLetters(ctx, sink, after, 500)
		if err != nil {
			return "", fmt.Errorf("read the SIEM dead letters: %w", err)
		}
		for _, x := range ds {
			if x.FromPos <= pos && pos <= x.ToPos {
				return fmt.Sprintf("dead letter %d: %s", x.ID, x.LastError), nil
			}
		}
		if len(ds) == 0 {
			return "none", nil
		}
		after = ds[len(ds)-1].ID
	}
}

// awaitReceived waits up to wait for the receiver to get event uid.
func awaitReceived(ctx context.Context, r *WebhookReceiver, uid string, wait time.Duration) (ReceivedEvent, bool) {
	deadline := time.Now().Add(wait)
	for {
		if e, ok := r.Received(uid); ok {
			return e, true
		}
		if time.Now().After(deadline) || sleep(ctx, incidentPoll) != nil {
			return ReceivedEvent{}, false
		}
	}
}
