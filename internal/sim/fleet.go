package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
)

// Target is the gateway the fleet connects to.
type Target struct {
	// URL is the vehicle listener, https://host:port.
	URL string
	// ServerName, if set, is the name the gateway's certificate must carry
	// instead of the URL's host.
	ServerName string
	// CAPEM is the fleet root (PEM).
	CAPEM []byte
	// FrameKeys are the gateway's pinned frame keys (gateway-frame-keys.pem).
	FrameKeys []agent.GatewayFrameKey
	// CommandKeys are the gateway's pinned command keys
	// (gateway-command-keys.pem); without them every command is refused.
	CommandKeys []agent.GatewayCommandKey
}

// Common is what a fleet run (Config) and a load run (LoadConfig) share:
// which vehicles, against which gateway, with their state where. Data
// only; zero fields take the defaults in limits.go.
type Common struct {
	// Vehicles is how many vehicles run, 1 … MaxVehicles.
	Vehicles int
	// IDPrefix names them <prefix>-00000, <prefix>-00001, ... (default
	// DefaultIDPrefix for a fleet, DefaultLoadPrefix for a load).
	IDPrefix string
	// Gateway is the gateway the vehicles connect to.
	Gateway Target
	// StateDir holds each vehicle's agent state (its credentials and frame
	// counter) in StateDir/<id>/, shared by fleet and load runs. Required.
	StateDir string
	// ProvisionWorkers is how many vehicles are enrolled at once (default 16).
	ProvisionWorkers int
	// SummaryEvery is the live summary's period (default 5 s).
	SummaryEvery time.Duration
}

// withDefaults fills the zero fields; prefix is the run's default IDPrefix.
func (c Common) withDefaults(prefix string) Common {
	if c.IDPrefix == "" {
		c.IDPrefix = prefix
	}
	if c.ProvisionWorkers == 0 {
		c.ProvisionWorkers = DefaultProvisionWorkers
	}
	if c.SummaryEvery == 0 {
		c.SummaryEvery = DefaultSummaryEvery
	}
	return c
}

// validate reports each bad field through bad; who names the vehicles in
// the messages ("trucks"). The gateway's requirements are the run's own.
func (c Common) validate(bad func(format string, a ...any), who string) {
	if c.Vehicles < 1 || c.Vehicles > MaxVehicles {
		bad("vehicles: must be 1 to %d", MaxVehicles)
	}
	if !validPrefix(c.IDPrefix) {
		bad("id prefix: 1 to 40 characters of [A-Za-z0-9._-], not starting with '.' or '-'")
	}
	if c.StateDir == "" {
		bad("state dir: required (the %s' frame counters live there)", who)
	}
	if c.ProvisionWorkers < 1 || c.ProvisionWorkers > 256 {
		bad("provision workers: must be 1 to 256")
	}
}

// Config is a fleet run: data only. Zero fields take the defaults in
// limits.go; New validates the result.
type Config struct {
	// Common: the trucks, the gateway (its frame keys are required), the
	// state directory.
	Common
	// HeartbeatInterval and Misses must be the gateway's (heartbeat.interval
	// and heartbeat.misses; default 1 s and 3).
	HeartbeatInterval time.Duration
	Misses            int
	// TelemetryRate is telemetry frames per truck per second (default 1).
	TelemetryRate float64
	// ConnectRate is trucks started per second (default 200).
	ConnectRate float64
	// ReadyTimeout bounds the wait for every truck to be driving after the
	// last one was started (default 60 s). The scenario starts when every
	// truck is driving or when it expires; fault windows count from then.
	ReadyTimeout time.Duration
	// Duration of the scenario; 0 runs until the context ends.
	Duration time.Duration
	// Cruise is the trucks' cruise speed, m/s (default 25).
	Cruise float64
	// StartStopped keeps the trucks at a standstill on their first resume
	// (they then accelerate to cruise at 0.8 m/s², half a minute). By
	// default the scenario starts on the highway: the first resume finds a
	// truck at cruise speed, so every stop is measured from it.
	StartStopped bool
	// Faults apply to fractions of the fleet.
	Faults []FaultGroup
	// Seed makes the choice of faulted trucks, routes and noise
	// reproducible.
	Seed uint64
	// ReconnectMin and ReconnectMax are the agents' reconnect backoff (0:
	// the agent's defaults).
	ReconnectMin, ReconnectMax time.Duration
	// Commands is how the trucks answer the gateway's commands (default:
	// accept every command).
	Commands CommandRule
}

func (c Config) withDefaults() Config {
	c.Common = c.Common.withDefaults(DefaultIDPrefix)
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = agent.DefaultHeartbeatInterval
	}
	if c.Misses == 0 {
		c.Misses = agent.DefaultMisses
	}
	if c.TelemetryRate == 0 {
		c.TelemetryRate = DefaultTelemetryRate
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = DefaultConnectRate
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Cruise == 0 {
		c.Cruise = DefaultCruise
	}
	return c
}

func (c Config) validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	c.Common.validate(bad, "trucks")
	if c.Gateway.URL == "" || len(c.Gateway.CAPEM) == 0 || len(c.Gateway.FrameKeys) == 0 {
		bad("gateway: URL, fleet CA and at least one gateway frame key are required")
	}
	if c.HeartbeatInterval < agent.MinHeartbeatInterval || c.HeartbeatInterval > agent.MaxHeartbeatInterval {
		bad("heartbeat interval: must be %v to %v", agent.MinHeartbeatInterval, agent.MaxHeartbeatInterval)
	}
	if c.Misses < agent.MinMisses || c.Misses > agent.MaxMisses {
		bad("misses: must be %d to %d", agent.MinMisses, agent.MaxMisses)
	}
	if !(c.TelemetryRate > 0 && c.TelemetryRate <= MaxTelemetryRate) {
		bad("telemetry rate: must be more than 0 and at most %v per second", MaxTelemetryRate)
	}
	if !(c.ConnectRate > 0 && c.ConnectRate <= MaxConnectRate) {
		bad("connect rate: must be more than 0 and at most %v per second", MaxConnectRate)
	}
	if c.ReadyTimeout < 0 || c.Duration < 0 || c.SummaryEvery < 0 {
		bad("durations must not be negative")
	}
	if !(c.Cruise > 0 && c.Cruise <= 40) {
		bad("cruise: must be more than 0 and at most 40 m/s")
	}
	for i, g := range c.Faults {
		if !(g.Fraction >= 0 && g.Fraction <= 1) {
			bad("fault group %d (%s): fraction must be 0 … 1", i, g.Name)
		}
		if err := g.Faults.validate(); err != nil {
			bad("fault group %d (%s): %v", i, g.Name, err)
		}
	}
	// A fault the scenario cannot contain at all is a configuration
	// mistake: a run with it would report figures for a fault that never
	// happened.
	for _, p := range c.ScenarioProblems() {
		if p.Outside {
			bad("fault group %s: %s", p.Group, p.Msg)
		}
	}
	if len(errs) > 0 {
		return errors.New("sim: config: " + strings.Join(errs, "; "))
	}
	return nil
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 40 || p[0] == '.' || p[0] == '-' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Deps are the runner's live collaborators.
type Deps struct {
	// Provisioner gives each truck its credentials. Required.
	Provisioner Provisioner
	// Events, if set, is the gateway's event store: the report then carries
	// the gateway-side figures (comm_lost detection, false comm_lost).
	Events EventLister
	// EventsSource describes Events for the report ("sqlite in ./fw-data").
	EventsSource string
	// OnSummary, if set, receives the live summary every SummaryEvery.
	OnSummary func(Summary)
	// DialContext, if set, dials the gateway (under the link faults).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives the runner's messages; nil is slog.Default().
	Log *slog.Logger
	// AgentLog receives the agents' own logs; nil discards them (10,000
	// agents log a lot).
	AgentLog *slog.Logger
}

// Fleet runs simulated trucks against a gateway. Create it with New and
// call Run once.
type Fleet struct {
	cfg       Config
	d         Deps
	log       *slog.Logger
	agentLog  *slog.Logger
	clock     scenarioClock
	vs        []*vehicle
	byID      map[string]*vehicle
	groupSize []int
	gw        *gatewayLog
	eligible  int

	running     atomic.Bool
	phase       atomic.Pointer[string]
	start       time.Time
	provisioned atomic.Int64
	enrolled    atomic.Int64
	started     atomic.Int64
}

// New validates cfg and deps and lays out the fleet: ids, faults, routes.
func New(cfg Config, deps Deps) (*Fleet, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Provisioner == nil {
		return nil, errors.New("sim: Deps.Provisioner is required")
	}
	if err := checkOpenFiles(cfg.Vehicles*fdsPerVehicle + fdsSpare); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, d: deps, log: deps.Log, agentLog: deps.AgentLog, byID: map[string]*vehicle{}}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.agentLog == nil {
		f.agentLog = slog.New(slog.DiscardHandler)
	}
	if deps.Events != nil {
		f.gw = newGatewayLog(deps.Events)
	}
	faults, chosen := assignFaults(cfg.Vehicles, cfg.Faults, cfg.Seed)
	for _, c := range chosen {
		f.groupSize = append(f.groupSize, len(c))
	}
	width := max(5, len(fmt.Sprint(cfg.Vehicles-1)))
	for i := range cfg.Vehicles {
		id := fmt.Sprintf("%s-%0*d", cfg.IDPrefix, width, i)
		v := newVehicle(id, i, faults[i], &f.clock, cfg.Cruise, cfg.Seed, !cfg.StartStopped)
		if faults[i].hasLink() {
			v.link = newLink(faults[i], &f.clock, cfg.Seed^uint64(i), deps.DialContext)
		}
		if faults[i].ClockSkew.Abs() < readySkewLimit {
			f.eligible++
		}
		f.vs = append(f.vs, v)
		f.byID[id] = v
	}
	f.setPhase("new")
	return f, nil
}

func (f *Fleet) setPhase(p string) { f.phase.Store(&p) }

// Run provisions the trucks, starts them at ConnectRate, waits until they
// drive, runs the scenario for Duration (fault windows count from its
// start), stops the trucks (each says goodbye) and returns the report. If
// ctx ends first, the trucks are stopped and the report covers what ran.
func (f *Fleet) Run(ctx context.Context) (*Report, error) {
	if !f.running.CompareAndSwap(false, true) {
		return nil, errors.New("sim: Run called twice")
	}
	f.start = time.Now()
	if f.gw != nil {
		if err := f.gw.mark(ctx); err != nil {
			return nil, fmt.Errorf("sim: read the gateway's events: %v", err)
		}
	}
	sumCtx, stopSum := context.WithCancel(context.Background())
	sumDone := make(chan struct{})
	go func() { f.summaryLoop(sumCtx); close(sumDone) }()
	defer func() { stopSum(); <-sumDone }()

	f.setPhase("provisioning")
	if err := f.provision(ctx); err != nil {
		return nil, err
	}

	// The agents outlive ctx: when it ends they are stopped in order (a
	// goodbye each) and the report is still made.
	agentCtx, stopAgents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgents()
	var wg sync.WaitGroup
	f.setPhase("connecting")
	rampStart := time.Now()
	for i, v := range f.vs {
		at := rampStart.Add(time.Duration(float64(i) / f.cfg.ConnectRate * float64(time.Second)))
		if !sleepUntil(ctx, at) {
			break
		}
		v.mu.Lock()
		v.ctx = agentCtx
		v.mu.Unlock()
		wg.Go(func() {
			if err := v.a.Run(agentCtx); err != nil && !errors.Is(err, context.Canceled) {
				f.log.Error("agent stopped", slog.String("vehicle", v.id), slog.Any("err", err))
			}
		})
		wg.Go(func() { v.telemetryLoop(agentCtx, f.cfg.TelemetryRate) })
		f.started.Add(1)
	}

	f.setPhase("waiting for trucks to drive")
	readyBy := time.Now().Add(f.cfg.ReadyTimeout)
	for ctx.Err() == nil && f.drivingCount() < f.eligible && time.Now().Before(readyBy) {
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	var t0 time.Time
	ready := 0
	if ctx.Err() == nil {
		t0 = time.Now()
		ready = f.drivingCount()
		f.clock.arm(t0)
		for _, v := range f.vs {
			if v.link != nil {
				v.link.poke()
			}
		}
		if ready < f.eligible {
			f.log.Warn("scenario starting with trucks not driving", slog.Int("driving", ready), slog.Int("expected", f.eligible))
		}
		f.setPhase("running")
		if f.cfg.Duration > 0 {
			sleepUntil(ctx, t0.Add(f.cfg.Duration))
		} else {
			<-ctx.Done()
		}
	}
	end := time.Now()

	f.setPhase("stopping")
	modes, acked, buffered := f.snapshot()
	stopAgents()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopAgentsTimeout):
		f.log.Warn("some agents did not stop in time")
	}
	trucks := make([]truckResult, len(f.vs))
	for i, v := range f.vs {
		trucks[i] = v.result()
		if v.a != nil {
			if err := v.savePosition(filepath.Join(f.cfg.StateDir, v.id)); err != nil {
				f.log.Warn("cannot save the truck's position", slog.String("vehicle", v.id), slog.Any("err", err))
			}
		}
	}
	if f.gw != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		err := f.gw.settle(rctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("sim: read the gateway's events: %v", err)
		}
	}
	return buildReport(reportInput{cfg: f.cfg, started: f.start, t0: t0, end: end, ready: ready, eligible: f.eligible, enrolled: int(f.enrolled.Load()),
		trucks: trucks, modes: modes, acked: acked, buffered: buffered, gw: f.gw, gwSource: f.d.EventsSource,
		groupSize: f.groupSize}), nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// drivingCount counts the trucks driving now.
func (f *Fleet) drivingCount() int {
	n := 0
	for _, v := range f.vs {
		if v.driving.Load() {
			n++
		}
	}
	return n
}

// provision gives every truck its credentials and its agent.
func (f *Fleet) provision(ctx context.Context) error {
	return forEachVehicle(ctx, len(f.vs), f.cfg.ProvisionWorkers, func(ctx context.Context, i int) error {
		return f.provisionOne(ctx, f.vs[i])
	})
}

func (f *Fleet) provisionOne(ctx context.Context, v *vehicle) error {
	creds, err := provisionRetry(ctx, f.d.Provisioner, v.id, f.log)
	if err != nil {
		return err
	}
	c := f.cfg
	v.loadPosition(filepath.Join(c.StateDir, v.id))
	acfg := agent.Config{GatewayURL: c.Gateway.URL, ServerName: c.Gateway.ServerName, GatewayCAPEM: c.Gateway.CAPEM,
		GatewayFrameKeys: c.Gateway.FrameKeys, GatewayCommandKeys: c.Gateway.CommandKeys, HeartbeatInterval: c.HeartbeatInterval, Misses: c.Misses,
		StateDir: filepath.Join(c.StateDir, v.id), ReconnectMin: c.ReconnectMin, ReconnectMax: c.ReconnectMax}
	deps := agent.Deps{SafeStater: v, OnEvent: v.onEvent, Log: f.agentLog, DialContext: f.d.DialContext,
		CommandHandler: commandStack{v: v, rule: c.Commands}}
	if v.link != nil {
		deps.DialContext = v.link.DialContext
	}
	if v.faults.ClockSkew != 0 {
		deps.Now = v.now
	}
	a, err := agent.New(acfg, agent.Identity{Chain: creds.Chain, TLSKey: creds.TLSKey, FrameKey: creds.FrameKey,
		FrameKID: creds.FrameKID}, deps)
	if err != nil {
		return fmt.Errorf("sim: agent for %s: %w", v.id, err)
	}
	v.a = a
	f.provisioned.Add(1)
	if !creds.Reused {
		f.enrolled.Add(1)
	}
	return nil
}

// snapshot counts the modes and the acknowledged and buffered telemetry of
// the started trucks.
func (f *Fleet) snapshot() (modes map[string]int, acked, buffered int64) {
	modes = map[string]int{}
	for _, v := range f.vs[:f.started.Load()] {
		st := v.a.Status()
		modes[st.Mode.String()]++
		buffered += int64(st.Buffered)
		acked += v.sent.Load() - int64(st.Buffered) - v.dropped.Load() - v.rejected.Load()
	}
	return modes, acked, buffered
}

// Summary is the live view of a run.
type Summary struct {
	Elapsed     time.Duration
	Phase       string
	Vehicles    int
	Provisioned int
	Started     int
	Connected   int
	Driving     int
	Stopping    int
	SafeState   int
	// Acked is telemetry frames acknowledged by the gateway so far,
	// fleet-wide; AcksPerSec of them per second since the last summary.
	Acked      int64
	AcksPerSec float64
	// Misses is heartbeats missed so far (all trucks); MissesPerSec since
	// the last summary.
	Misses       int64
	MissesPerSec float64
	Disconnects  int64
	// CommLost is the gateway's comm_lost declarations for the fleet so
	// far; -1 without access to the gateway's events.
	CommLost int
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs %-8s", s.Elapsed.Seconds(), firstWord(s.Phase))
	if s.Provisioned < s.Vehicles {
		fmt.Fprintf(&b, " provisioned %d/%d", s.Provisioned, s.Vehicles)
	}
	fmt.Fprintf(&b, " started %d/%d connected %d | driving %d stopping %d safe_state %d | acks %.0f/s | misses %d (%.0f/s) | disconnects %d",
		s.Started, s.Vehicles, s.Connected, s.Driving, s.Stopping, s.SafeState, s.AcksPerSec, s.Misses, s.MissesPerSec, s.Disconnects)
	if s.CommLost >= 0 {
		fmt.Fprintf(&b, " | gateway comm_lost %d", s.CommLost)
	}
	return b.String()
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

func (f *Fleet) summaryLoop(ctx context.Context) {
	if f.d.OnSummary == nil || f.cfg.SummaryEvery <= 0 {
		return
	}
	t := time.NewTicker(f.cfg.SummaryEvery)
	defer t.Stop()
	var prevAcked, prevMisses int64
	prev := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		s := Summary{Elapsed: now.Sub(f.start), Phase: *f.phase.Load(), Vehicles: len(f.vs),
			Provisioned: int(f.provisioned.Load()), Started: int(f.started.Load()), CommLost: -1}
		var acked int64
		for _, v := range f.vs[:s.Started] {
			st := v.a.Status()
			if st.Connected {
				s.Connected++
			}
			switch st.Mode {
			case agent.ModeDriving:
				s.Driving++
			case agent.ModeStopping:
				s.Stopping++
			case agent.ModeSafeState:
				s.SafeState++
			}
			acked += v.sent.Load() - int64(st.Buffered) - v.dropped.Load() - v.rejected.Load()
			s.Misses += v.misses.Load()
			s.Disconnects += v.discs.Load()
		}
		dt := now.Sub(prev).Seconds()
		s.Acked = max(0, acked)
		s.AcksPerSec = math.Max(0, float64(acked-prevAcked)/dt)
		s.MissesPerSec = float64(s.Misses-prevMisses) / dt
		prevAcked, prevMisses, prev = acked, s.Misses, now
		if f.gw != nil {
			if err := f.gw.poll(ctx, codes.CommLost); err == nil {
				s.CommLost = 0
				for _, e := range f.gw.events(codes.CommLost) {
					if _, ok := f.byID[e.Vehicle]; ok && !e.Time.Before(f.start) {
						s.CommLost++
					}
				}
			}
		}
		f.d.OnSummary(s)
	}
}
