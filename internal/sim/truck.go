package sim

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
)

// vehicle is one simulated truck: the kinematic model behind the agent's
// SafeStater, its sensors, its link and what it measured. The agent calls
// the SafeStater methods and OnEvent from one goroutine; the telemetry loop
// and the runner read it concurrently, hence the lock.
type vehicle struct {
	id     string
	idx    int
	faults Faults
	link   *link // nil: a healthy link
	clock  *scenarioClock
	a      *agent.Agent

	mu        sync.Mutex
	truck     Truck
	sensors   Sensors
	stepped   time.Time // the model is advanced to here
	atCruise  bool      // on its first resume the truck is placed at cruise speed
	resumes   int
	cur       *stopEpisode
	stops     []stopEpisode
	sessions  []sessionSpan // sessions, newest last (bounded)
	discByKnd map[agent.ErrorKind]int
	resumeRej map[agent.Reason]int
	telRej    map[string]int
	gwRej     map[agent.Reason]int

	// Counters the live summary reads without the lock.
	misses   atomic.Int64
	sent     atomic.Int64 // telemetry frames queued
	sendErrs atomic.Int64
	dropped  atomic.Int64
	rejected atomic.Int64
	connects atomic.Int64
	discs    atomic.Int64
	driving  atomic.Bool // the agent is in ModeDriving, by its events
	// Commands the truck's AV stack answered (commands.go), and its runs
	// of a command it had run before (expected 0).
	cmdAccepted, cmdRejected, cmdDuplicates atomic.Int64
	// Stop events of dispatched loads: recorded by the gateway, refused,
	// not answered in time.
	stopsReported, stopsRefused, stopsUnanswered atomic.Int64

	// ctx is the agent's run context (loads end with it); loadCancel ends
	// the load in progress. Under mu.
	ctx        context.Context
	loadCancel context.CancelFunc
	// runs counts the handler's runs per command id; dupIDs are the first
	// maxDuplicateIDsKept commands run more than once. Under mu.
	runs   map[string]int
	dupIDs []string
}

// stopEpisode is one minimal-risk maneuver, in true time (the truck's
// clock skew removed).
type stopEpisode struct {
	Reason  agent.Reason
	V0      float64   // speed when it began, m/s
	Began   time.Time // EventStopping
	Halted  time.Time // the model reached a standstill
	Safe    time.Time // EventSafeState
	Resumed time.Time // the resume that ended it (zero if none)
	// ResumeSession is when the session that carried the resume started.
	ResumeSession time.Time
}

// sessionSpan is one session: from its ready to its end (zero while it lasts).
type sessionSpan struct{ start, end time.Time }

// maxSessionsKept bounds the sessions a truck remembers: the report looks
// at the ones around a blackout.
const maxSessionsKept = 64

// connectedAt reports whether one of spans was up at t.
func connectedAt(spans []sessionSpan, t time.Time) bool {
	for _, s := range spans {
		if !t.Before(s.start) && (s.end.IsZero() || t.Before(s.end)) {
			return true
		}
	}
	return false
}

func newVehicle(id string, idx int, f Faults, clock *scenarioClock, cruise float64, seed uint64, startAtCruise bool) *vehicle {
	r := rand.New(rand.NewPCG(seed, uint64(idx)))
	v := &vehicle{id: id, idx: idx, faults: f, clock: clock, atCruise: startAtCruise,
		discByKnd: map[agent.ErrorKind]int{}, resumeRej: map[agent.Reason]int{}, telRej: map[string]int{}, gwRej: map[agent.Reason]int{}}
	// Boot: standing still, held (the agent starts in safe_state).
	v.truck = Truck{Route: randomRoute(r), Cruise: cruise, Stopping: true}
	v.sensors = Sensors{Rand: r, GNSSPosSigma: gnssPosSigma, GNSSSpeedSigma: gnssSpeedSigma, WheelRelSigma: wheelRelSigma}
	return v
}

// now is the truck's clock: true time plus its skew.
func (v *vehicle) now() time.Time { return time.Now().Add(v.faults.ClockSkew) }

// trueTime converts a time on the truck's clock to true time.
func (v *vehicle) trueTime(t time.Time) time.Time { return t.Add(-v.faults.ClockSkew) }

// advanceLocked integrates the model up to now in steps of at most
// kinematicsStep.
func (v *vehicle) advanceLocked(now time.Time) {
	if v.stepped.IsZero() {
		v.stepped = now
		return
	}
	for v.stepped.Before(now) {
		dt := min(now.Sub(v.stepped), kinematicsStep)
		v.stepped = v.stepped.Add(dt)
		v.truck.Step(dt, v.stepped)
	}
}

// BeginStop implements agent.SafeStater.
func (v *vehicle) BeginStop(why agent.Reason) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	v.advanceLocked(now)
	v.cur = &stopEpisode{Reason: why, V0: v.truck.V, Began: now}
	v.truck.StoppedAt = time.Time{}
	v.truck.Stop()
}

// Stopped implements agent.SafeStater.
func (v *vehicle) Stopped() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	return v.truck.Stopped()
}

// Resume implements agent.SafeStater: the gateway authorized leaving
// safe_state.
func (v *vehicle) Resume() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(time.Now())
	if v.resumes == 0 && v.atCruise {
		// The scenario starts on the highway: the first resume finds the
		// truck at cruise speed, so every stop is measured from it.
		v.truck.V = v.truck.Cruise
	}
	v.resumes++
	v.truck.Resume()
}

// onEvent is the agent's Deps.OnEvent.
func (v *vehicle) onEvent(ev agent.Event) {
	at := v.trueTime(ev.Time)
	switch ev.Kind {
	case agent.EventHeartbeatMissed:
		v.misses.Add(1)
		return
	case agent.EventTelemetryDropped:
		v.dropped.Add(int64(ev.Count))
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev.Kind {
	case agent.EventConnected:
		v.connects.Add(1)
		v.sessions = append(v.sessions, sessionSpan{start: at})
		if len(v.sessions) > maxSessionsKept {
			v.sessions = v.sessions[1:]
		}
	case agent.EventDisconnected:
		v.discs.Add(1)
		// A failed attempt reports this too; only an open session ends.
		if n := len(v.sessions); n > 0 && v.sessions[n-1].end.IsZero() {
			v.sessions[n-1].end = at
		}
		v.discByKnd[agent.KindOf(ev.Err)]++
	case agent.EventStopping:
		v.driving.Store(false)
		if v.cur == nil { // BeginStop always comes first; be safe
			v.cur = &stopEpisode{Reason: ev.Reason}
		}
		v.cur.Began = at
	case agent.EventSafeState:
		if v.cur != nil {
			v.cur.Safe = at
			v.cur.Halted = v.truck.StoppedAt
			v.stops = append(v.stops, *v.cur)
			v.cur = nil
		}
	case agent.EventResumed:
		v.driving.Store(true)
		if n := len(v.stops); n > 0 && v.stops[n-1].Resumed.IsZero() {
			v.stops[n-1].Resumed = at
			if k := len(v.sessions); k > 0 {
				v.stops[n-1].ResumeSession = v.sessions[k-1].start
			}
		}
	case agent.EventResumeRejected:
		v.resumeRej[ev.Reason]++
	case agent.EventTelemetryRejected:
		v.rejected.Add(1)
		v.telRej[ev.Code]++
	case agent.EventGatewayFrameRejected:
		v.gwRej[ev.Reason]++
	}
}

// sample reads the sensors at now (true time) as a telemetry frame.
func (v *vehicle) sample(now time.Time) frame.Telemetry {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.advanceLocked(now)
	v.sensors.GNSSOffset, v.sensors.WheelFactor = Point{}, 0
	if t0, ok := v.clock.start(); ok {
		if w := v.faults.GNSSJump; w.For > 0 && w.contains(t0, now) {
			v.sensors.GNSSOffset = Point{Lat: gnssJumpDeg}
		}
		if w := v.faults.SpeedDisagreement; w.For > 0 && w.contains(t0, now) {
			v.sensors.WheelFactor = speedFaultWheelFactor
		}
	}
	r := v.sensors.Read(&v.truck)
	rnd := v.sensors.Rand
	return frame.Telemetry{
		GNSS: frame.GNSS{Lat: r.Pos.Lat, Lon: r.Pos.Lon, SpeedMPS: r.GNSSSpeed, HeadingDeg: math.Mod(r.Heading, 360),
			Fix: frame.Fix(r.Fix), HDOP: r.HDOP},
		WheelSpeedMPS: r.WheelSpeed,
		OdometerM:     v.truck.Odometer,
		State:         frame.StateDriving, // the agent reports stopping / safe_state itself
		Health: frame.Health{CPUTempC: 55 + 3*rnd.NormFloat64(), BatteryV: 27.6 + 0.2*rnd.NormFloat64(),
			Faults: []string{}},
	}
}

// telemetryLoop queues a telemetry frame every 1/rate s until ctx ends,
// starting at a random phase so a fleet's frames are spread out.
func (v *vehicle) telemetryLoop(ctx context.Context, rate float64) {
	period := time.Duration(float64(time.Second) / rate)
	v.mu.Lock()
	phase := time.Duration(v.sensors.Rand.Int64N(int64(period)))
	v.mu.Unlock()
	next := time.Now().Add(phase)
	t := time.NewTimer(phase)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		tel := v.sample(now)
		if err := v.a.SendTelemetry(now.Add(v.faults.ClockSkew), tel); err != nil {
			v.sendErrs.Add(1)
		} else {
			v.sent.Add(1)
		}
		next = next.Add(period)
		if d := time.Until(next); d > 0 {
			t.Reset(d)
		} else {
			next = time.Now()
			t.Reset(0)
		}
	}
}

// snapshot is what the report keeps of a truck.
type truckResult struct {
	ID        string
	Faults    Faults
	Stops     []stopEpisode
	Resumes   int
	Sessions  []sessionSpan
	Connects  int64
	Disc      map[agent.ErrorKind]int
	ResumeRej map[agent.Reason]int
	TelRej    map[string]int
	GwRej     map[agent.Reason]int
	Mode      agent.Mode
	Misses    int64
	Sent      int64
	Dropped   int64
	Rejected  int64
	Buffered  int
	Refused   int64 // dials refused by a carrier loss
	Resets    int64 // connections reset by a carrier loss
	// Commands the AV stack accepted and rejected; runs of a command it
	// had run before, and (some of) those commands.
	CmdAccepted, CmdRejected int64
	CmdDuplicates            int64
	DupIDs                   []string
	// Stop events reported, refused, not answered.
	StopsReported, StopsRefused, StopsUnanswered int64
}

func (v *vehicle) result() truckResult {
	r := truckResult{ID: v.id, Faults: v.faults, Misses: v.misses.Load(), Sent: v.sent.Load(), Dropped: v.dropped.Load(),
		Rejected: v.rejected.Load(), CmdAccepted: v.cmdAccepted.Load(), CmdRejected: v.cmdRejected.Load(), CmdDuplicates: v.cmdDuplicates.Load(),
		StopsReported: v.stopsReported.Load(), StopsRefused: v.stopsRefused.Load(), StopsUnanswered: v.stopsUnanswered.Load()}
	if v.a != nil {
		st := v.a.Status()
		r.Mode, r.Buffered = st.Mode, st.Buffered
	}
	if v.link != nil {
		r.Refused, r.Resets = v.link.refused.Load(), v.link.resets.Load()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	r.Stops = append([]stopEpisode(nil), v.stops...)
	if v.cur != nil {
		r.Stops = append(r.Stops, *v.cur) // unfinished: Safe is zero
	}
	r.Resumes = v.resumes
	r.DupIDs = append([]string(nil), v.dupIDs...)
	r.Sessions = append([]sessionSpan(nil), v.sessions...)
	r.Connects = v.connects.Load()
	r.Disc, r.ResumeRej, r.TelRej, r.GwRej = cloneMap(v.discByKnd), cloneMap(v.resumeRej), cloneMap(v.telRej), cloneMap(v.gwRej)
	return r
}

func cloneMap[K comparable](m map[K]int) map[K]int {
	out := make(map[K]int, len(m))
	for k, n := range m {
		out[k] = n
	}
	return out
}

// randomRoute returns a 300 km route in north Texas with gentle turns.
func randomRoute(r *rand.Rand) Route {
	p := Point{Lat: 31.5 + 2*r.Float64(), Lon: -98 + 2*r.Float64()}
	brg := 360 * r.Float64()
	route := Route{p}
	for range routeSegments {
		p = destination(p, brg, routeSegmentM)
		route = append(route, p)
		brg = math.Mod(brg+40*(r.Float64()-0.5)+360, 360)
	}
	return route
}

// destination is the point d metres from p on bearing brg (degrees), on a
// sphere.
func destination(p Point, brg, d float64) Point {
	const R = 6371000.0
	rad := math.Pi / 180
	lat1, lon1, th, dr := p.Lat*rad, p.Lon*rad, brg*rad, d/R
	lat2 := math.Asin(math.Sin(lat1)*math.Cos(dr) + math.Cos(lat1)*math.Sin(dr)*math.Cos(th))
	lon2 := lon1 + math.Atan2(math.Sin(th)*math.Sin(dr)*math.Cos(lat1), math.Cos(dr)-math.Sin(lat1)*math.Sin(lat2))
	return Point{Lat: lat2 / rad, Lon: lon2 / rad}
}

// truckStateFile keeps where a truck stopped, in its state directory, so
// the next run starts it there: a truck that jumped back to its route's
// start between runs would be a GNSS position jump to the gateway.
const truckStateFile = "truck.json"

type truckState struct {
	V        int     `json:"v"`
	S        float64 `json:"s_m"`
	Odometer float64 `json:"odometer_m"`
}

// loadPosition restores where the truck was left in dir, if it was.
func (v *vehicle) loadPosition(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, truckStateFile))
	if err != nil {
		return
	}
	var ts truckState
	if json.Unmarshal(b, &ts) != nil || ts.V != 1 || ts.S < 0 || ts.Odometer < 0 || ts.Odometer > frame.MaxOdometerM {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if l := v.truck.Route.Length(); ts.S < l {
		v.truck.S = ts.S
	}
	v.truck.Odometer = ts.Odometer
}

// savePosition records where the truck is in dir.
func (v *vehicle) savePosition(dir string) error {
	v.mu.Lock()
	v.advanceLocked(time.Now())
	b, err := json.Marshal(truckState{V: 1, S: v.truck.S, Odometer: v.truck.Odometer})
	v.mu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, truckStateFile), b, 0o600)
}
