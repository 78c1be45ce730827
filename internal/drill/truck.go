package drill

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// truck is a drill vehicle driving on the real agent SDK (the public
// vehicle SDK customers embed) over link, in session with the gateway.
type truck struct {
	a            *agent.Agent
	link         *silentLink
	dir          string
	cancel       context.CancelFunc
	done         chan struct{}
	resumedAfter time.Duration
	// stopping receives when the agent begins the minimal-risk maneuver,
	// disconnected the first disconnection.
	stopping     chan time.Time
	disconnected chan agent.Event
	// acked receives the telemetry frames the gateway acknowledged (as
	// many as it holds; later ones are dropped).
	acked chan agent.TelemetryAck
	// seen is every event the agent reported, in order.
	mu   sync.Mutex
	seen []agent.Event
	// handler is its AV stack for commands: it accepts each and counts it.
	handler countingHandler
}

// startTruck starts an agent for v and waits until the gateway has
// resumed it (in session, supervised, driving).
func startTruck(ctx context.Context, t *Target, v *vehicle, link *silentLink) (*truck, error) {
	return startTruckWith(ctx, t, v, link, nil)
}

// startTruckWith is startTruck with the agent's configuration adjusted by
// tune (nil: as the target's trucks).
func startTruckWith(ctx context.Context, t *Target, v *vehicle, link *silentLink, tune func(*agent.Config)) (*truck, error) {
	return startTruckAs(ctx, t, v, link, tune, stubTruck{})
}

// startTruckAs is startTruckWith with the truck's safe-state behaviour ss
// (its AV stack's side of agent.SafeStater).
func startTruckAs(ctx context.Context, t *Target, v *vehicle, link *silentLink, tune func(*agent.Config), ss agent.SafeStater) (*truck, error) {
	if len(t.GatewayFrameKeys) == 0 || t.HeartbeatInterval <= 0 || t.HeartbeatMisses <= 0 {
		return nil, fmt.Errorf("the target gives no gateway frame keys or heartbeat settings")
	}
	dir, err := os.MkdirTemp("", "fifthwheel-drill-agent-")
	if err != nil {
		return nil, err
	}
	tr := &truck{link: link, dir: dir, done: make(chan struct{}),
		stopping: make(chan time.Time, 1), disconnected: make(chan agent.Event, 1), acked: make(chan agent.TelemetryAck, 16)}
	resumed := make(chan struct{}, 1)
	cfg := agent.Config{GatewayURL: t.URL, GatewayCAPEM: t.RootPEM, GatewayFrameKeys: t.GatewayFrameKeys, GatewayCommandKeys: t.GatewayCommandKeys,
		HeartbeatInterval: t.HeartbeatInterval, Misses: t.HeartbeatMisses, StateDir: dir, DisableRenewal: true}
	if tune != nil {
		tune(&cfg)
	}
	tr.a, err = agent.New(cfg,
		agent.Identity{Chain: v.creds.Chain, TLSKey: v.creds.TLSKey, FrameKey: v.creds.FrameKey, FrameKID: v.creds.FrameKID},
		agent.Deps{SafeStater: ss, CommandHandler: &tr.handler, DialContext: link.DialContext, Log: slog.New(slog.DiscardHandler),
			OnTelemetryAcked: func(a agent.TelemetryAck) { offer(tr.acked, a) },
			OnEvent: func(e agent.Event) {
				tr.mu.Lock()
				if len(tr.seen) < maxTruckEvents {
					tr.seen = append(tr.seen, e)
				}
				tr.mu.Unlock()
				switch e.Kind {
				case agent.EventResumed: // out of safe_state, supervised: driving
					offer(resumed, struct{}{})
				case agent.EventStopping:
					offer(tr.stopping, time.Now())
				case agent.EventDisconnected:
					offer(tr.disconnected, e)
				}
			}})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	started := time.Now()
	actx, cancel := context.WithCancel(ctx)
	tr.cancel = cancel
	go func() { _ = tr.a.Run(actx); close(tr.done) }()
	select {
	case <-resumed:
		tr.resumedAfter = time.Since(started)
		return tr, nil
	case <-ctx.Done():
		tr.stop()
		return nil, fmt.Errorf("the gateway never resumed the drill truck: %w", ctx.Err())
	}
}

// stop stops the agent and removes its state.
func (tr *truck) stop() {
	// Cut the link for good first: the agent's goodbye would otherwise
	// wait out its timeouts on a silent link.
	tr.link.end()
	tr.cancel()
	<-tr.done
	_ = os.RemoveAll(tr.dir)
}

// events returns the events of kind the agent reported at or after from.
func (tr *truck) events(kind agent.EventKind, from time.Time) []agent.Event {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []agent.Event
	for _, e := range tr.seen {
		if e.Kind == kind && !e.Time.Before(from) {
			out = append(out, e)
		}
	}
	return out
}

// await waits up to wait for an event of kind at or after from and
// returns its time; false if none came.
func (tr *truck) await(ctx context.Context, kind agent.EventKind, from time.Time, wait time.Duration) (time.Time, bool, error) {
	e, ok, err := tr.awaitMatch(ctx, kind, from, wait, nil)
	return e.Time, ok, err
}

// awaitMatch waits up to wait for an event of kind at or after from for
// which match (nil: any) holds, and returns it; false if none came.
func (tr *truck) awaitMatch(ctx context.Context, kind agent.EventKind, from time.Time, wait time.Duration, match func(agent.Event) bool) (agent.Event, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		for _, e := range tr.events(kind, from) {
			if match == nil || match(e) {
				return e, true, nil
			}
		}
		if time.Now().After(deadline) {
			return agent.Event{}, false, nil
		}
		if err := sleep(ctx, truckPoll); err != nil {
			return agent.Event{}, false, err
		}
	}
}

// supervised records, as checks, that the truck stayed supervised since
// from: no heartbeat ack missed, no stop begun, its session never lost,
// and driving now. It returns whether all held.
func (tr *truck) supervised(p *Probe, from time.Time, during string) bool {
	ok := p.Check("drill truck: heartbeat acks missed "+during, "0",
		fmt.Sprint(len(tr.events(agent.EventHeartbeatMissed, from))))
	ok = p.Check("drill truck: stops begun "+during, "0", fmt.Sprint(len(tr.events(agent.EventStopping, from)))) && ok
	ok = p.Check("drill truck: sessions lost "+during, "0", fmt.Sprint(len(tr.events(agent.EventDisconnected, from)))) && ok
	return p.Check("drill truck: mode after the attack", agent.ModeDriving.String(), tr.a.Status().Mode.String()) && ok
}

// offer sends v on c unless c is full: only the first matters.
func offer[T any](c chan T, v T) {
	select {
	case c <- v:
	default:
	}
}

// stubTruck is the drill truck's safe-state behaviour: at a standstill
// as soon as it is told to stop.
type stubTruck struct{}

// movingTruck is a drill truck that drives at cruise speed once resumed
// and stops as a loaded truck does (package sim's kinematic model: −2.5
// m/s², jerk-limited; about 11 s from 25 m/s), so that the time to
// safe_state the blackout drill measures is a stopping time, not a stub's.
type movingTruck struct {
	mu      sync.Mutex
	k       sim.Truck
	stepped time.Time
}

func newMovingTruck() *movingTruck {
	return &movingTruck{k: sim.Truck{Cruise: drillCruiseSpeed}, stepped: time.Now()}
}

// advance steps the model to now; mu held.
func (m *movingTruck) advance(now time.Time) {
	for m.stepped.Before(now) {
		dt := min(now.Sub(m.stepped), 10*time.Millisecond)
		m.stepped = m.stepped.Add(dt)
		m.k.Step(dt, m.stepped)
	}
}

func (m *movingTruck) BeginStop(agent.Reason) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(time.Now())
	m.k.Stop()
}

func (m *movingTruck) Stopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(time.Now())
	return m.k.Stopped()
}

// Resume puts the truck back at cruise speed at once: the drill is about
// the stop, not the acceleration (which takes half a minute).
func (m *movingTruck) Resume() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(time.Now())
	m.k.Resume()
	m.k.V = m.k.Cruise
}

func (stubTruck) BeginStop(agent.Reason) {}
func (stubTruck) Stopped() bool          { return true }
func (stubTruck) Resume()                {}

// silentLink is the drill truck's network: once down, nothing passes in
// either direction and nothing is closed (no FIN, no RST reaches the
// gateway until the drill ends), and new connections hang, as on a link
// that went silent.
type silentLink struct {
	down atomic.Bool
	// via, if set, takes each dialed connection and gives the truck what
	// it speaks over instead (an on-path terminator: onPath.via).
	via   func(ctx context.Context, c net.Conn) (net.Conn, error)
	mu    sync.Mutex
	conns []net.Conn // every connection dialed, closed by end
}

func (l *silentLink) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	// A dial while the link is down waits for it to come back (as a
	// retransmitted SYN would), or for the caller to give up.
	for l.down.Load() {
		if err := sleep(ctx, truckPoll); err != nil {
			return nil, err
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	if l.via != nil {
		return l.via(ctx, &silentConn{Conn: c, l: l})
	}
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
