package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
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
// not before the blackout; the agent must begin its minimal-risk maneuver.
//
// The truck's safe-state behaviour here is a stub that stops at once, so
// the drill measures when the agent starts the stop, not a physical
// stopping time: the 15 s safe-state SLA is measured by `sim fleet` with
// its kinematic model, not here.
func blackoutDrill(ctx context.Context, t *Target, p *Probe) error {
	if len(t.GatewayFrameKeys) == 0 || t.HeartbeatInterval <= 0 || t.HeartbeatMisses <= 0 {
		return errors.New("the target gives no gateway frame keys or heartbeat settings")
	}
	v, err := enroll(ctx, t, "blackout")
	if err != nil {
		return err
	}
	defer v.close()
	dir, err := os.MkdirTemp("", "fifthwheel-drill-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	link := &silentLink{}
	stopping := make(chan time.Time, 1)
	resumed := make(chan struct{}, 1)
	a, err := agent.New(agent.Config{GatewayURL: t.URL, GatewayCAPEM: t.RootPEM, GatewayFrameKeys: t.GatewayFrameKeys,
		HeartbeatInterval: t.HeartbeatInterval, Misses: t.HeartbeatMisses, StateDir: dir, DisableRenewal: true},
		agent.Identity{Chain: v.creds.Chain, TLSKey: v.creds.TLSKey, FrameKey: v.creds.FrameKey, FrameKID: v.creds.FrameKID},
		agent.Deps{SafeStater: stubTruck{}, DialContext: link.DialContext, Log: slog.New(slog.DiscardHandler), OnEvent: func(e agent.Event) {
			switch e.Kind {
			case agent.EventResumed: // out of safe_state, supervised: driving
				select {
				case resumed <- struct{}{}:
				default:
				}
			case agent.EventStopping:
				select {
				case stopping <- time.Now():
				default:
				}
			}
		}})
	if err != nil {
		return err
	}
	started := time.Now()
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = a.Run(actx); close(done) }()
	defer func() {
		// Cut the link for good first: the agent's goodbye would
		// otherwise wait out its timeouts on a silent link.
		link.end()
		cancel()
		<-done
	}()

	select {
	case <-resumed:
		p.Timing("truck: connected and resumed by the gateway", time.Since(started), 0)
	case <-ctx.Done():
		return fmt.Errorf("the gateway never resumed the drill truck: %w", ctx.Err())
	}
	// Let a heartbeat more flow (the resume came after some), so that
	// the gateway's last proof of life is a heartbeat, not the handshake.
	if err := sleep(ctx, t.HeartbeatInterval); err != nil {
		return err
	}
	select {
	case at := <-stopping:
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
	}
	p.Timing("gateway: comm_lost after the blackout began", row.Time.Sub(blackout), sla)

	select {
	case at := <-stopping:
		p.Check("the truck began its minimal-risk maneuver", "yes", "yes")
		p.Timing("truck: stop began after the blackout", at.Sub(blackout), 0)
	case <-time.After(sla + p.eventWait):
		p.Check("the truck began its minimal-risk maneuver", "yes", "no")
	case <-ctx.Done():
		return ctx.Err()
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

// stubTruck is the drill truck's safe-state behaviour: at a standstill
// as soon as it is told to stop.
type stubTruck struct{}

func (stubTruck) BeginStop(agent.Reason) {}
func (stubTruck) Stopped() bool          { return true }
func (stubTruck) Resume()                {}

// silentLink is the drill truck's network: once down, nothing passes in
// either direction and nothing is closed (no FIN, no RST reaches the
// gateway until the drill ends), and new connections hang, as on a link
// that went silent.
type silentLink struct {
	down  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn // every connection dialed, closed by end
}

func (l *silentLink) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.down.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return &silentConn{Conn: c, l: l}, nil
}

// end closes every connection for real: the drill is over.
func (l *silentLink) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

type silentConn struct {
	net.Conn
	l *silentLink
}

// Write swallows what is written while the link is down.
func (c *silentConn) Write(b []byte) (int, error) {
	if c.l.down.Load() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// Read drops what arrives while the link is down.
func (c *silentConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.l.down.Load() {
			return n, err
		}
	}
}

// Close, while the link is down, leaves the socket open until the drill
// ends (end): the gateway must notice the silence, not a closed
// connection.
func (c *silentConn) Close() error {
	if c.l.down.Load() {
		return c.Conn.SetDeadline(time.Now()) // wake the agent's reader
	}
	return c.Conn.Close()
}
