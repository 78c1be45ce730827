package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// blackoutDrill: a truck on the real agent SDK holds a live session; its
// link then goes silent (nothing in either direction, no FIN, no RST, new
// connections hang). The gateway must declare comm_lost within
// interval × misses + sim.DetectionSLAExtra (the SLA `sim fleet` checks) of the last heartbeat it saw, and
// not before the blackout; the agent must begin its minimal-risk maneuver
// on its own and the truck be in safe_state within sim.SafeStateSLA (15 s)
// of the last heartbeat the gateway saw. The truck drives at 25 m/s and
// stops as package sim's kinematic model of a loaded truck does (about
// 11 s), so the figure is a stopping time.
func blackoutDrill(ctx context.Context, t *Target, p *Probe) error {
	if len(t.GatewayFrameKeys) == 0 || t.HeartbeatInterval <= 0 || t.HeartbeatMisses <= 0 {
		return errors.New("the target gives no gateway frame keys or heartbeat settings")
	}
	v, err := enroll(ctx, t, "blackout")
	if err != nil {
		return err
	}
	defer v.close()
	link := &silentLink{}
	tr, err := startTruckAs(ctx, t, v, link, nil, newMovingTruck())
	if err != nil {
		return err
	}
	defer tr.stop()
	p.Timing("truck: connected and resumed by the gateway", tr.resumedAfter, 0)
	// Let a heartbeat more flow (the resume came after some), so that
	// the gateway's last proof of life is a heartbeat, not the handshake.
	if err := sleep(ctx, t.HeartbeatInterval); err != nil {
		return err
	}
	select {
	case at := <-tr.stopping:
		return fmt.Errorf("the truck began a stop at %s, before the blackout", at.Format(time.RFC3339Nano))
	default:
	}
	blackout := time.Now()
	link.down.Store(true)

	sla := time.Duration(t.HeartbeatMisses)*t.HeartbeatInterval + sim.DetectionSLAExtra
	row, err := waitEvent(ctx, t, codes.CommLost, v.subject(), sla+p.eventWait)
	if err != nil {
		return err
	}
	if row.Seq == 0 {
		p.Check("comm_lost in the gateway's store", codes.CommLost+" about "+v.subject(), "none")
		return nil
	}
	p.Event(row)
	p.Check("comm_lost in the gateway's store", codes.CommLost+" about "+v.subject(), row.Code+" about "+row.Subject)
	p.Check("comm_lost declared after the blackout began", "after", order(row.Time, blackout))
	last, ok := parseTime(eventAttr(row, "last_heartbeat"))
	if p.Check("the event names the last heartbeat the gateway saw", "yes", yesNo(ok)) {
		p.Timing("gateway: comm_lost after the last heartbeat", row.Time.Sub(last), sla)
	} else {
		last = blackout
	}
	p.Timing("gateway: comm_lost after the blackout began", row.Time.Sub(blackout), sla)

	select {
	case at := <-tr.stopping:
		p.Check("the truck began its minimal-risk maneuver", "yes", "yes")
		p.Timing("truck: stop began after the blackout", at.Sub(blackout), 0)
	case <-time.After(sla + p.eventWait):
		p.Check("the truck began its minimal-risk maneuver", "yes", "no")
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	safeAt, ok, err := tr.await(ctx, agent.EventSafeState, blackout, sim.SafeStateSLA+p.eventWait)
	if err != nil {
		return err
	}
	if p.Check("the truck stopped in safe_state on its own", "yes", yesNo(ok)) {
		p.Timing("truck: in safe_state after the last heartbeat the gateway saw", safeAt.Sub(last), sim.SafeStateSLA)
	}
	return nil
}

// waitEvent polls for the event, returning a zero row if none came within
// wait.
func waitEvent(ctx context.Context, t *Target, code, subject string, wait time.Duration) (store.EventRow, error) {
	deadline := time.Now().Add(wait)
	for {
		row, found, err := findEvent(ctx, t.Events, code, subject, nil)
		if err != nil || found {
			return row, err
		}
		if time.Now().After(deadline) {
			return store.EventRow{}, nil
		}
		if err := sleep(ctx, eventPoll); err != nil {
			return store.EventRow{}, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func order(a, b time.Time) string {
	if a.Before(b) {
		return "before"
	}
	return "after"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}
