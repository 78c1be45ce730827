package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// flapDrill: a truck on the real agent SDK loses its link and reaches
// safe state; the link then flaps (flapCycles times up for less than the
// gateway's resume hold-down, down for flapDown intervals), and at last
// stays up. The truck must stay in safe state throughout the flapping
// (the link coming back never resumes a truck, and a session shorter than
// session.resume_stable_heartbeats heartbeats is never resumed), and once
// the link is stable it must be resumed exactly once: one resume seen by
// the agent, one session_resume_sent in the gateway's store. The time
// from the stable link to the resume is measured.
//
// The truck reconnects with a short backoff (flapReconnectMin/Max), so
// that it does reach the gateway in the windows the link is up: the drill
// checks that it did, or it would prove nothing.
func flapDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.ResumeStableHeartbeats <= 0 {
		return errors.New("the target gives no session.resume_stable_heartbeats")
	}
	v, err := enroll(ctx, t, "flapping")
	if err != nil {
		return err
	}
	defer v.close()
	link := &silentLink{}
	tr, err := startTruckWith(ctx, t, v, link, func(c *agent.Config) {
		c.ReconnectMin, c.ReconnectMax = flapReconnectMin, flapReconnectMax
	})
	if err != nil {
		return err
	}
	defer tr.stop()
	p.Timing("truck: connected and resumed by the gateway", tr.resumedAfter, 0)
	// The start-up resume's event: the resumes counted later come after it.
	first, err := waitEvent(ctx, t, codes.SessionResumeSent, v.subject(), p.eventWait)
	if err != nil {
		return err
	}
	if !p.Check("the start-up resume in the gateway's store", codes.SessionResumeSent+" about "+v.subject(),
		first.Code+" about "+first.Subject) {
		return nil
	}

	// The link is lost: the truck stops.
	lost := time.Now()
	link.down.Store(true)
	trip := time.Duration(t.HeartbeatMisses) * t.HeartbeatInterval
	safeAt, ok, err := tr.await(ctx, agent.EventSafeState, lost, trip+p.eventWait)
	if err != nil {
		return err
	}
	if !p.Check("the truck reached safe state after losing its link", "yes", yesNo(ok)) {
		return nil
	}
	p.Timing("truck: safe state after the link was lost", safeAt.Sub(lost), 0)

	// The link flaps, each time up for less than the resume hold-down.
	interval := float64(t.HeartbeatInterval)
	up := time.Duration(max(float64(t.ResumeStableHeartbeats-1)-flapMargin, flapMargin) * interval)
	down := time.Duration(flapDown * interval)
	flapping := time.Now()
	left := "" // when and how the truck left safe state, if it did
	for range flapCycles {
		link.down.Store(false)
		if left == "" {
			if left, err = watchSafe(ctx, tr, flapping, up); err != nil {
				return err
			}
		}
		link.down.Store(true)
		if left == "" {
			if left, err = watchSafe(ctx, tr, flapping, down); err != nil {
				return err
			}
		}
	}
	stable := time.Now()
	link.down.Store(false)
	p.Check(fmt.Sprintf("the truck during %d flaps (link up %s, down %s)", flapCycles, up, down),
		"in safe state throughout", orDefault(left, "in safe state throughout"))
	p.Check("the truck reached the gateway while the link flapped", "yes",
		yesNo(len(tr.events(agent.EventConnected, flapping)) > 0))
	p.Check("resumes the truck accepted while the link flapped", "0",
		fmt.Sprint(len(tr.events(agent.EventResumed, flapping))))

	// The link is stable: one resume.
	hold := time.Duration(t.ResumeStableHeartbeats+1) * t.HeartbeatInterval
	sla := flapReconnectMax + hold + time.Second
	resumedAt, ok, err := tr.await(ctx, agent.EventResumed, stable, sla+p.eventWait)
	if err != nil {
		return err
	}
	if !p.Check("the truck resumed once the link was stable", "yes", yesNo(ok)) {
		return nil
	}
	p.Timing("truck: resumed after the link became stable", resumedAt.Sub(stable), sla)
	// A second resume would follow the first within a heartbeat or two.
	if err := sleep(ctx, 2*t.HeartbeatInterval); err != nil {
		return err
	}
	p.Check("resumes the truck accepted after the link was lost", "1",
		fmt.Sprint(len(tr.events(agent.EventResumed, lost))))
	p.Check("the truck's mode at the end", agent.ModeDriving.String(), tr.a.Status().Mode.String())
	rows, err := eventsAbout(ctx, t, codes.SessionResumeSent, v.subject(), first.Seq)
	if err != nil {
		return err
	}
	for _, r := range rows {
		p.Event(r)
	}
	p.Check("session_resume_sent in the gateway's store after the link was lost", "1", fmt.Sprint(len(rows)))
	return nil
}

// watchSafe watches the truck for d and says how it left safe state, ""
// if it did not.
func watchSafe(ctx context.Context, tr *truck, since time.Time, d time.Duration) (string, error) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if m := tr.a.Status().Mode; m != agent.ModeSafeState {
			return fmt.Sprintf("%s %s after the flapping began", m, time.Since(since).Round(time.Millisecond)), nil
		}
		if err := sleep(ctx, truckPoll); err != nil {
			return "", err
		}
	}
	return "", nil
}

// eventsAbout returns the events with code about subject after seq.
func eventsAbout(ctx context.Context, t *Target, code, subject string, after int64) ([]store.EventRow, error) {
	var out []store.EventRow
	for {
		rows, err := t.Events.ListEvents(ctx, store.EventFilter{AfterSeq: after, Code: code, Subject: subject, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("read the gateway's events: %w", err)
		}
		if len(rows) == 0 {
			return out, nil
		}
		for _, r := range rows {
			if r.Code == code && r.Subject == subject {
				out = append(out, r)
			}
		}
		after = rows[len(rows)-1].Seq
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
