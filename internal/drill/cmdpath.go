package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The command-path drills (issue 20) attack what happens to a command
// between the gateway and the truck: a replayed envelope, an envelope for
// another truck, a command that expires while its truck is dark. They use
// standard-risk loads (no hazmat, under the weight threshold), which need
// no approval: what they test comes after the approvals.

// plainTender is a load tender of carrier without hazmat lines and under
// the weight threshold: a standard-risk load.
func plainTender(id, carrier string) string {
	h := hazmatTender(id, carrier)
	i := strings.Index(h, `,"hazmat":[`)
	j := strings.Index(h[i:], "]")
	return h[:i] + h[i+j+1:]
}

// dispatchExpiring is dispatchBody with the command's expires_at.
func dispatchExpiring(tender, vehicle string, expires time.Time) string {
	b := dispatchBody(tender, vehicle)
	return b[:len(b)-1] + `,"expires_at":"` + expires.UTC().Format(time.RFC3339Nano) + `"}`
}

// dispatchAccepted tenders a standard load, dispatches it to dt and waits
// until dt answered it accepted; all of it is set-up (checked). It
// returns the command's id and, from dt's on-path attacker, the signed
// envelope the gateway sent.
func (s *commandScene) dispatchAccepted(ctx context.Context, t *Target, p *Probe, dt *sceneTruck) (string, seenCommand, error) {
	tender, err := s.tender(ctx, t, p, false)
	if err != nil {
		return "", seenCommand{}, err
	}
	key, err := freshKey(t, "dispatch-key")
	if err != nil {
		return "", seenCommand{}, err
	}
	d, _, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, key, dispatchBody(tender, dt.v.id))
	if err != nil {
		return "", seenCommand{}, err
	}
	id := d.view().ID
	if !p.Check("set-up: the dispatch, no approval required", "202 0", fmt.Sprintf("%s %d", d.String(), d.view().ApprovalsRequired)) || id == "" {
		return "", seenCommand{}, fmt.Errorf("the dispatch was refused: %.300s", d.body)
	}
	v, err := s.awaitState(ctx, t, id, stateAccepted, commandAcceptWait)
	if err != nil {
		return "", seenCommand{}, err
	}
	if !p.Check("set-up: the command, answered by its truck", stateAccepted, v.State) {
		return "", seenCommand{}, errors.New("the truck never accepted the command")
	}
	p.Check("set-up: times the command reached its truck's AV stack", "1", fmt.Sprint(dt.tr.handler.count(id)))
	var env seenCommand
	for _, c := range dt.path.seen() {
		if c.id == id {
			env = c
			break
		}
	}
	if !p.Check("the on-path attacker saw the signed command envelope", "yes", yesNo(env.raw != nil)) {
		return "", seenCommand{}, errors.New("no command envelope crossed the path")
	}
	return id, env, nil
}

// countEvents is how many events of code about subject the gateway
// recorded.
func countEvents(ctx context.Context, t *Target, code, subject string) (int, error) {
	var n int
	var after int64
	for {
		rows, err := t.Events.ListEvents(ctx, store.EventFilter{AfterSeq: after, Code: code, Subject: subject, Limit: 500})
		if err != nil {
			return 0, fmt.Errorf("read the gateway's events: %w", err)
		}
		if len(rows) == 0 {
			return n, nil
		}
		for _, r := range rows {
			if r.Code == code && r.Subject == subject {
				n++
			}
		}
		after = rows[len(rows)-1].Seq
	}
}

// unchanged checks that the gateway's record of command id is what its
// truck's one answer made it: accepted, delivered once.
func (s *commandScene) unchanged(ctx context.Context, t *Target, p *Probe, id, after string) error {
	v, a, err := s.getCommand(ctx, t, id)
	if err != nil {
		return err
	}
	p.Check("GET "+commandPath("{id}")+" "+after, "200 "+stateAccepted, a.String()+" "+v.State)
	if err := awaitEvent(ctx, t, p, codes.CommandDelivered, commandSubject(id), nil); err != nil {
		return err
	}
	n, err := countEvents(ctx, t, codes.CommandDelivered, commandSubject(id))
	if err != nil {
		return err
	}
	p.Check(codes.CommandDelivered+" events about the command "+after, "1", fmt.Sprint(n))
	return nil
}

// commandReplayDrill: an attacker inside the truck's TLS path (a
// compromised TLS terminator or gateway replica, which sees the
// session's messages in clear but holds no gateway key) re-sends a
// command envelope it saw, byte for byte, on the truck's session after
// the truck executed and answered it.
//
// It proves, on the real agent SDK against the real gateway, that the
// replay is refused by the agent's gateway-frame order check (reason
// replayed) as an authenticity failure inside the session: the operator
// event (command_refused) and the safe-state maneuver, as the seed
// prescribes; the AV stack ran the command once, the agent sent no
// second answer, and the gateway's record is unchanged (accepted,
// delivered once).
//
// It does not prove anything about an attacker outside TLS (who can
// inject nothing: the mTLS drills cover that), nor about a replay in a
// later session through a gateway replica that re-signs it (that is a
// redelivery: answered again from the executed-command log, see
// tms-retry-executed-once and the agent's tests), nor the refusal of a
// rolled-back cmd_seq, which needs the gateway's command key to forge
// (the agent's TestAttackRolledBackCmdSeq).
func commandReplayDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newDispatchScene(ctx, t, p, "cmd-replay", []string{string(authz.Dispatcher)})
	if err != nil {
		return err
	}
	defer s.close()
	dt, err := s.addTruck(ctx, t, "cmd-replay", true)
	if err != nil {
		return err
	}
	id, env, err := s.dispatchAccepted(ctx, t, p, dt)
	if err != nil {
		return err
	}
	injected := time.Now()
	if err := dt.path.inject(env.raw); err != nil {
		return fmt.Errorf("inject the replay: %w", err)
	}
	e, ok, err := dt.tr.awaitMatch(ctx, agent.EventCommandRefused, injected, commandReplayWait, nil)
	if err != nil {
		return err
	}
	got := "none"
	if ok {
		got = string(e.Kind) + ": " + string(e.Reason)
		p.Timing("truck: the replay refused after it was injected", e.Time.Sub(injected), 0)
	}
	p.Check("drill truck: its agent on the replayed command envelope", string(agent.EventCommandRefused)+": "+string(agent.ReasonReplayed), got)
	stop, ok, err := dt.tr.awaitMatch(ctx, agent.EventStopping, injected, commandReplayWait, nil)
	if err != nil {
		return err
	}
	got = "no"
	if ok {
		got = "yes: " + string(stop.Reason)
		p.Timing("truck: safe-state maneuver began after the replay", stop.Time.Sub(injected), 0)
	}
	p.Check("drill truck: began its safe-state maneuver", "yes: "+string(agent.ReasonCommandAuthFailure), got)
	if err := sleep(ctx, commandRedeliveryWait); err != nil {
		return err
	}
	p.Check("drill truck: times the command reached its AV stack", "1", fmt.Sprint(dt.tr.handler.count(id)))
	answers := len(dt.tr.events(agent.EventCommandAnswered, injected)) + len(dt.tr.events(agent.EventCommandRedelivered, injected))
	p.Check("drill truck: answers sent after the replay", "0", fmt.Sprint(answers))
	return s.unchanged(ctx, t, p, id, "after the replay")
}

// commandForAnotherVehicleDrill: two trucks A and B of one carrier, each
// behind an on-path attacker; a dispatch for A. B's session never
// carries it (B's path, AV stack and agent see nothing) while A executes
// it. Then A's signed envelope is injected into B's session: B's agent
// refuses it for its addressee (command_refused wrong_vehicle, answered
// command_wrong_vehicle), starts its safe state (the default), and its AV
// stack never sees it; the gateway refuses B's answer for A's command
// (vehicle_mismatch) and A's command stays accepted.
//
// It does not prove the gateway's own addressee check on delivery in
// isolation (a gateway that sent A's command on B's session would fail
// the first part, and B's agent would still refuse it: the second).
func commandForAnotherVehicleDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newDispatchScene(ctx, t, p, "cmd-other", []string{string(authz.Dispatcher)})
	if err != nil {
		return err
	}
	defer s.close()
	a, err := s.addTruck(ctx, t, "cmd-other-a", true)
	if err != nil {
		return err
	}
	b, err := s.addTruck(ctx, t, "cmd-other-b", true)
	if err != nil {
		return err
	}
	start := time.Now()
	id, env, err := s.dispatchAccepted(ctx, t, p, a)
	if err != nil {
		return err
	}
	p.Check("the envelope's addressee", a.v.id, env.vehicle)
	if err := sleep(ctx, commandRedeliveryWait); err != nil {
		return err
	}
	p.Check("truck B: command envelopes on its session", "0", fmt.Sprint(len(b.path.seen())))
	p.Check("truck B: commands reaching its AV stack", "0", fmt.Sprint(b.tr.handler.total()))
	p.Check("truck B: agent command events", "0", fmt.Sprint(b.tr.commandsSeen(start)))

	injected := time.Now()
	if err := b.path.inject(env.raw); err != nil {
		return fmt.Errorf("inject A's envelope into B's session: %w", err)
	}
	e, ok, err := b.tr.awaitMatch(ctx, agent.EventCommandRefused, injected, commandReplayWait, nil)
	if err != nil {
		return err
	}
	got := "none"
	if ok {
		got = fmt.Sprintf("%s: %s, answered %s", e.Kind, e.Reason, e.Code)
		p.Timing("truck B: A's envelope refused after it was injected", e.Time.Sub(injected), 0)
	}
	p.Check("truck B: its agent on A's envelope", fmt.Sprintf("%s: %s, answered %s", agent.EventCommandRefused, agent.ReasonWrongVehicle, codes.CommandWrongVehicle), got)
	stop, ok, err := b.tr.awaitMatch(ctx, agent.EventStopping, injected, commandReplayWait, nil)
	if err != nil {
		return err
	}
	got = "no"
	if ok {
		got = "yes: " + string(stop.Reason)
		p.Timing("truck B: safe-state maneuver began after the injection", stop.Time.Sub(injected), 0)
	}
	p.Check("truck B: began its safe-state maneuver", "yes: "+string(agent.ReasonCommandAuthFailure), got)
	if err := awaitEvent(ctx, t, p, codes.VehicleMismatch, commandSubject(id), nil); err != nil {
		return err
	}
	p.Check("truck B: commands reaching its AV stack after the injection", "0", fmt.Sprint(b.tr.handler.total()))
	p.Check("truck A: times the command reached its AV stack", "1", fmt.Sprint(a.tr.handler.count(id)))
	return s.unchanged(ctx, t, p, id, "after B's refusal")
}

// commandExpiredAcrossBlackoutDrill: a truck in session goes dark (its
// link silent); once the gateway has declared comm_lost and closed the
// dead session, a dispatch with
// a short expires_at is queued (reason vehicle_offline). It expires while
// the truck is dark; then the link comes back and the truck reconnects
// and is resumed (a fresh challenge-response on the new session). The
// command must be expired (its transition and command_expired), never
// delivered, and the truck's AV stack and agent must never see it.
//
// The truck's agent would itself reject an expired command delivered late
// (command_expired, beyond its tolerance: the agent's
// TestAttackExpiredCommand); this drill shows the gateway never sends it.
func commandExpiredAcrossBlackoutDrill(ctx context.Context, t *Target, p *Probe) error {
	s, err := newCommandScene(ctx, t, p, "cmd-expired", []string{string(authz.Dispatcher)})
	if err != nil {
		return err
	}
	defer s.close()
	start := time.Now()
	tender, err := s.tender(ctx, t, p, false)
	if err != nil {
		return err
	}
	// A heartbeat more, so the gateway's last proof of life is one.
	if err := sleep(ctx, t.HeartbeatInterval); err != nil {
		return err
	}
	link := s.tr.link
	blackout := time.Now()
	link.down.Store(true)
	sla := time.Duration(t.HeartbeatMisses)*t.HeartbeatInterval + commandExpiresIn
	row, err := waitEvent(ctx, t, codes.CommLost, s.v.subject(), sla+p.eventWait)
	if err != nil {
		return err
	}
	if !p.Check("set-up: comm_lost in the gateway's store", codes.CommLost, row.Code) {
		return nil
	}
	p.Timing("gateway: comm_lost after the blackout began", row.Time.Sub(blackout), 0)
	// From comm_lost on, the gateway counts the truck as offline: the
	// dispatch that follows is queued (vehicle_offline), never written
	// into the silent socket, which the gateway has not closed yet.

	key, err := freshKey(t, "dispatch-key")
	if err != nil {
		return err
	}
	expires := time.Now().Add(commandExpiresIn)
	d, _, err := t.post(ctx, s.disp.hc, "/v1/dispatches", s.tok, key, dispatchExpiring(tender, s.v.id, expires))
	if err != nil {
		return err
	}
	id := d.view().ID
	if !p.Check("the dispatch to the dark truck", "202", d.String()) || id == "" {
		return nil
	}
	v, err := s.awaitState(ctx, t, id, stateQueued, commandExpiresIn)
	if err != nil {
		return err
	}
	q, _ := v.transition(stateQueued)
	p.Check("the command while the truck is dark: state, reason", stateQueued+", "+codes.VehicleOffline, v.State+", "+q.Reason)

	v, err = s.awaitState(ctx, t, id, stateExpired, commandExpiresIn+commandExpireWait)
	if err != nil {
		return err
	}
	if !p.Check("the command after its expires_at, the truck still dark", stateExpired, v.State) {
		return nil
	}
	if x, ok := v.transition(stateExpired); p.Check("its expired transition", "from queued, at or after expires_at", fmt.Sprintf("from %s, %s expires_at", x.From, map[bool]string{true: "at or after", false: "before"}[ok && !x.At.Before(v.ExpiresAt)])) {
		p.Timing("gateway: expired after its expires_at", x.At.Sub(v.ExpiresAt), 0)
	}
	if err := awaitEvent(ctx, t, p, codes.CommandExpired, commandSubject(id), nil); err != nil {
		return err
	}

	back := time.Now()
	link.down.Store(false)
	hold := time.Duration(t.ResumeStableHeartbeats+1) * t.HeartbeatInterval
	resumed, ok, err := s.tr.await(ctx, agent.EventResumed, back, flapReconnectMax+hold+time.Second+p.eventWait)
	if err != nil {
		return err
	}
	if !p.Check("the truck reconnected and was resumed (fresh challenge-response)", "yes", yesNo(ok)) {
		return nil
	}
	p.Timing("truck: resumed after the link came back", resumed.Sub(back), 0)
	// A session's redelivery runs when it starts: a second is ample.
	if err := sleep(ctx, commandRedeliveryWait); err != nil {
		return err
	}
	p.Check("drill truck: commands reaching its AV stack", "0", fmt.Sprint(s.tr.handler.total()))
	p.Check("drill truck: agent command events", "0", fmt.Sprint(s.tr.commandsSeen(start)))
	n, err := countEvents(ctx, t, codes.CommandDelivered, commandSubject(id))
	if err != nil {
		return err
	}
	p.Check(codes.CommandDelivered+" events about the command", "0", fmt.Sprint(n))
	v, a, err := s.getCommand(ctx, t, id)
	if err != nil {
		return err
	}
	p.Check("GET "+commandPath("{id}")+" after the reconnect", "200 "+stateExpired, a.String()+" "+v.State)
	return nil
}
