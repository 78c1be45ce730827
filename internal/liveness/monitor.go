package liveness

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Monitor tracks the liveness of every connected vehicle. It is safe for
// concurrent use.
type Monitor struct {
	cfg     Config
	em      event.Emitter
	log     *slog.Logger
	now     func() time.Time
	metrics Metrics
	observe func(Transition)

	// Derived from cfg once; times are nanoseconds since base.
	base       time.Time
	tick       int64
	interval   int64
	span       int64 // Misses × Interval
	mask       int64 // wheel slots − 1
	crossY     float64
	alpha      float64
	minStd     float64 // ms
	seed       stats
	suspectMin int64
	suspectMax int64

	hashSeed maphash.Seed
	shards   [shardCount]*shard
	total    atomic.Int64 // vehicles tracked

	tickMu  sync.Mutex // serializes Tick
	drainMu sync.Mutex // serializes Drain
	running atomic.Bool
	q       queue
}

// New returns a Monitor. Call Run to drive its deadlines and deliver its
// events.
func New(cfg Config, deps Deps) (*Monitor, error) {
	if deps.Events == nil {
		return nil, errors.New("liveness: New needs an event Emitter")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return build(cfg, deps), nil
}

// build returns a Monitor for a Config whose defaults are filled. New
// validates first; the package's tests call build directly to run at
// intervals below agent.MinHeartbeatInterval.
func build(cfg Config, deps Deps) *Monitor {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = noMetrics{}
	}
	if cfg.Tick <= 0 || cfg.Interval <= cfg.Tick || cfg.Misses < 2 || cfg.PhiWindow < 1 || cfg.QueueSize < 1 {
		panic("liveness: build with an unusable Config")
	}
	m := &Monitor{
		cfg: cfg, em: deps.Events, log: deps.Log, now: deps.Now, metrics: deps.Metrics, observe: deps.OnTransition,
		base:     deps.Now(),
		tick:     int64(cfg.Tick),
		interval: int64(cfg.Interval),
		span:     int64(cfg.Misses) * int64(cfg.Interval),
		crossY:   crossingY(cfg.PhiSuspect),
		alpha:    2 / float64(cfg.PhiWindow+1),
		minStd:   ms(cfg.MinStdDev),
		hashSeed: maphash.MakeSeed(),
	}
	// Until a vehicle has a history, assume it keeps the configured
	// interval with σ = interval/4 (as Akka does for a first heartbeat).
	seedStd := ms(cfg.Interval) / 4
	m.seed = stats{mean: float32(ms(cfg.Interval)), vari: float32(seedStd * seedStd)}
	// Suspicion never comes before one full interval of silence, and always
	// comes at least one interval before the deadline.
	m.suspectMin = m.interval
	m.suspectMax = m.span - m.interval
	slots := int64(1) << bits.Len64(uint64(m.span/m.tick+2))
	m.mask = slots - 1
	for i := range m.shards {
		m.shards[i] = newShard(int(slots))
	}
	m.q = queue{max: cfg.QueueSize, wake: make(chan struct{}, 1)}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rel converts t to nanoseconds since base (monotonic when both carry a
// monotonic reading).
func (m *Monitor) rel(t time.Time) int64 { return int64(t.Sub(m.base)) }

// abs converts nanoseconds since base back to a time, without a monotonic
// reading.
func (m *Monitor) abs(ns int64) time.Time { return m.base.Add(time.Duration(ns)).Round(0) }

func (m *Monitor) shardFor(id string) *shard {
	return m.shards[maphash.String(m.hashSeed, id)%shardCount]
}

// suspectDelay is how long after lastSeen the record becomes suspect: when
// φ reaches PhiSuspect under its statistics (μ + y*·σ), but not before one
// interval of silence nor later than Misses−1 intervals.
func (m *Monitor) suspectDelay(r *record) int64 {
	d := (float64(r.mean) + m.crossY*r.std(m.minStd)) * float64(time.Millisecond)
	if math.IsNaN(d) || d > float64(m.suspectMax) {
		return m.suspectMax
	}
	return max(int64(d), m.suspectMin)
}

func (m *Monitor) deadline(r *record) int64 { return r.lastSeen + m.span }

func (m *Monitor) phiAt(r *record, now int64) float64 {
	if !r.state.monitored() {
		return 0
	}
	elapsed := float64(max(now-r.lastSeen, 0)) / float64(time.Millisecond)
	return phiOf(elapsed, float64(r.mean), r.std(m.minStd))
}

// reschedule puts r in the wheel for its next check, or takes it out when
// no deadline runs.
func (m *Monitor) reschedule(sh *shard, idx int32) {
	r := &sh.recs[idx]
	switch r.state {
	case Online, SafeState:
		m.schedule(sh, idx, r.lastSeen+m.suspectDelay(r))
	case Suspect:
		m.schedule(sh, idx, m.deadline(r))
	default:
		sh.unlink(idx)
	}
}

// fire runs the check of a record that came due at now; the wheel has
// unlinked it.
func (m *Monitor) fire(sh *shard, idx int32, now int64) {
	r := &sh.recs[idx]
	if dl := m.deadline(r); now > dl {
		m.declareLost(sh, idx, now, now-dl)
		return
	}
	if r.state == Online || r.state == SafeState {
		if at := r.lastSeen + m.suspectDelay(r); now > at {
			cause := CauseSilence
			if m.phiAt(r, now) >= m.cfg.PhiSuspect {
				cause = CausePhi
			}
			m.transition(sh, r, Suspect, now, cause, time.Duration(now-at))
		}
	}
	m.reschedule(sh, idx)
}

// declareLost moves a monitored record to CommLost and ends its session.
func (m *Monitor) declareLost(sh *shard, idx int32, now int64, latency int64) {
	r := &sh.recs[idx]
	m.transition(sh, r, CommLost, now, CauseDeadline, time.Duration(latency))
	if r.sess != nil {
		m.endSession(r, ErrCommLost)
	}
	sh.unlink(idx)
}

// checkDeadline declares comm loss if a proof of life arriving at t comes
// after the deadline, whether or not a tick has noticed yet: the outcome
// depends on the timestamps, not on when the loop ran.
func (m *Monitor) checkDeadline(sh *shard, idx int32, t int64) bool {
	r := &sh.recs[idx]
	if !r.state.monitored() {
		return false
	}
	if dl := m.deadline(r); t > dl {
		m.declareLost(sh, idx, t, t-dl)
		return true
	}
	return false
}

// transition moves r to state to, declared at now, and queues the
// transition for delivery. The caller holds sh.mu; delivering in queue order
// keeps each vehicle's transitions in order.
func (m *Monitor) transition(sh *shard, r *record, to State, now int64, cause Cause, latency time.Duration) {
	tr := Transition{
		VehicleID: r.id, From: r.state, To: to, Cause: cause, At: m.abs(now),
		Latency: latency, Phi: m.phiAt(r, now), Reported: r.reported.String(),
	}
	if r.flags&hasHeartbeat != 0 {
		tr.LastHeartbeat = m.abs(r.lastHB)
	}
	if r.state.monitored() {
		tr.Deadline = m.abs(m.deadline(r))
	}
	if r.state != NeverConnected {
		sh.counts[r.state]--
	}
	sh.counts[to]++
	r.state, r.since = to, now
	m.metrics.Transitioned(tr)
	if !m.q.push(tr) {
		m.metrics.Undelivered(1)
	}
}

func (m *Monitor) endSession(r *record, err error) {
	s := r.sess
	r.sess = nil
	s.err = err
	close(s.done)
}

// Connected records a new authenticated session of vehicleID, ready at at
// (the handshake completed: the vehicle signed the gateway's challenge). The
// handshake is a proof of life: the deadline restarts from at. A vehicle
// that was comm_lost, offline, suspect or new becomes online (or safe_state,
// if that is what it last reported); an earlier session of the same vehicle
// ends with ErrSuperseded. If the vehicle's deadline had passed before at,
// comm_lost is declared first: a reconnect does not erase a loss that
// happened.
//
// The returned Session carries the rest of the session's calls; the session
// layer closes the connection when its Done channel closes.
func (m *Monitor) Connected(vehicleID string, at time.Time) (*Session, error) {
	if !principal.ValidID(vehicleID) {
		return nil, ErrInvalidVehicle
	}
	sh := m.shardFor(vehicleID)
	t := m.rel(at)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	idx, ok := sh.index[vehicleID]
	if !ok {
		if m.total.Add(1) > int64(m.cfg.MaxVehicles) {
			m.total.Add(-1)
			return nil, ErrVehicleLimit
		}
		idx = sh.alloc(vehicleID)
		sh.recs[idx].stats = m.seed
	}
	m.checkDeadline(sh, idx, t)
	r := &sh.recs[idx]
	if r.sess != nil {
		m.endSession(r, ErrSuperseded)
	}
	s := &Session{m: m, sh: sh, idx: idx, id: r.id, done: make(chan struct{})}
	r.sess = s
	r.lastSeen = max(r.lastSeen, t)
	if !r.state.monitored() {
		r.lastSeen = t
	}
	r.flags &^= hasPrev // the gap since the last session is not an inter-arrival sample
	if to := r.reported.reachable(); r.state != to {
		m.transition(sh, r, to, t, CauseHandshake, 0)
	}
	m.reschedule(sh, idx)
	return s, nil
}

// Tick declares every suspicion and comm loss due before now. Run calls it
// every Config.Tick; simulations and tests with a fake clock call it
// directly. A tick that comes late (a stalled loop, a fake clock jumping)
// catches up in one call: every vehicle whose deadline passed is declared,
// with its true detection latency.
func (m *Monitor) Tick(now time.Time) {
	n := m.rel(now)
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	for _, sh := range m.shards {
		sh.mu.Lock()
		m.advance(sh, n)
		sh.mu.Unlock()
	}
}

// Run drives the Monitor until ctx is done: a ticker calls Tick every
// Config.Tick, and a second goroutine delivers transitions to OnTransition
// and the event Emitter (see Drain). When ctx is done it delivers what is
// queued, for at most FlushTimeout, and returns nil; transitions made after
// that (by session calls) wait for the next Run or Drain. Run may be called
// once at a time.
//
// On shutdown, stop Run rather than calling Disconnected for every session:
// a gateway going down says nothing about its vehicles, and a fleet of
// offline events would be false.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("liveness: Run is already running")
	}
	defer m.running.Store(false)
	// The deliverer stops after the ticker, so the last tick's transitions
	// are in the final flush.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { m.dispatch(ctx, stop) })
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			close(stop)
			wg.Wait()
			return nil
		case <-t.C:
			m.Tick(m.now())
		}
	}
}

// State returns vehicleID's fleet state, with φ evaluated now.
func (m *Monitor) State(vehicleID string) (VehicleState, bool) {
	sh := m.shardFor(vehicleID)
	now := m.rel(m.now())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	idx, ok := sh.index[vehicleID]
	if !ok {
		return VehicleState{}, false
	}
	return m.view(&sh.recs[idx], now), true
}

func (m *Monitor) view(r *record, now int64) VehicleState {
	v := VehicleState{
		VehicleID: r.id, State: r.state, Since: m.abs(r.since), Phi: m.phiAt(r, now),
		Reported: r.reported.String(), Connected: r.sess != nil,
	}
	if r.flags&hasHeartbeat != 0 {
		v.LastHeartbeat = m.abs(r.lastHB)
	}
	if r.state.monitored() {
		v.Deadline = m.abs(m.deadline(r))
	}
	return v
}

// Snapshot returns every vehicle's fleet state, sorted by vehicle id, for
// the TMS read API. Each shard is read atomically; the whole is not a
// single instant (a vehicle may change state while another shard is read).
func (m *Monitor) Snapshot() []VehicleState {
	now := m.rel(m.now())
	out := make([]VehicleState, 0, m.total.Load())
	for _, sh := range m.shards {
		sh.mu.Lock()
		for i := range sh.recs {
			if r := &sh.recs[i]; r.id != "" {
				out = append(out, m.view(r, now))
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b VehicleState) int { return strings.Compare(a.VehicleID, b.VehicleID) })
	return out
}

// Counts returns how many vehicles are in each state (NeverConnected excluded),
// for per-state gauges. It is exact: it does not depend on event delivery.
func (m *Monitor) Counts() map[State]int {
	var sum [numStates]int
	for _, sh := range m.shards {
		sh.mu.Lock()
		for s, n := range sh.counts {
			sum[s] += n
		}
		sh.mu.Unlock()
	}
	out := make(map[State]int, numStates-1)
	for s := Online; s < numStates; s++ {
		out[s] = sum[s]
	}
	return out
}

// Phi returns vehicleID's suspicion level at now: 0 right after a heartbeat,
// PhiSuspect when it becomes suspect, and growing without bound. It is 0 for
// a vehicle with no running deadline (comm_lost, offline).
func (m *Monitor) Phi(vehicleID string, now time.Time) (float64, bool) {
	sh := m.shardFor(vehicleID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	idx, ok := sh.index[vehicleID]
	if !ok {
		return 0, false
	}
	return m.phiAt(&sh.recs[idx], m.rel(now)), true
}

// Forget removes vehicleID (decommissioned, deleted): its session ends with
// ErrForgotten and it no longer appears in the fleet state. Forget is an
// administrative action, not a transition: it emits no event (the caller
// records the action that prompted it). It reports whether the vehicle was
// known.
func (m *Monitor) Forget(vehicleID string) bool {
	sh := m.shardFor(vehicleID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	idx, ok := sh.index[vehicleID]
	if !ok {
		return false
	}
	r := &sh.recs[idx]
	if r.sess != nil {
		m.endSession(r, ErrForgotten)
	}
	sh.unlink(idx)
	if r.state != NeverConnected {
		sh.counts[r.state]--
	}
	sh.release(idx)
	m.total.Add(-1)
	return true
}
