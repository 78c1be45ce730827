package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// Dist summarizes a set of durations, in milliseconds (nearest-rank
// percentiles).
type Dist struct {
	N   int     `json:"n"`
	Min float64 `json:"min_ms"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	return Dist{N: len(s), Min: ms(s[0]), P50: rank(0.50), P99: rank(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// SLA is one checked figure.
type SLA struct {
	Name string `json:"name"`
	// Stat is what is compared with Limit: "p99", "max" or "count".
	Stat   string  `json:"stat"`
	Value  float64 `json:"value"` // ms, or a count
	Limit  float64 `json:"limit"` // ms, or a count
	N      int     `json:"n"`     // samples
	Result string  `json:"result"`
	// Reason says why a row failed: over its limit, or "no data: ..." when
	// the scenario configured what it measures and it measured nothing.
	Reason string `json:"reason,omitempty"`
	// Dist, for a row over durations, is their whole distribution (the
	// row compares one of its statistics with Limit).
	Dist *Dist `json:"dist,omitempty"`
}

// SLA results.
const (
	Pass = "pass"
	Fail = "FAIL"
	// NotApplicable: the row has no samples and the scenario configured
	// nothing that should have produced any (no fault of its kind).
	NotApplicable = "n/a"
)

// check makes a row from its samples. A count row with no samples passes
// (it counts bad events over the whole scenario: none is a measurement);
// any other row without samples is n/a until requires says otherwise.
func check(name, stat string, value, limit float64, n int) SLA {
	s := SLA{Name: name, Stat: stat, Value: value, Limit: limit, N: n, Result: Pass}
	switch {
	case n == 0 && stat != "count":
		s.Result = NotApplicable
	case value > limit:
		s.Result = Fail
		if stat == "count" {
			s.Reason = fmt.Sprintf("%.0f, over the limit of %.0f", value, limit)
		} else {
			s.Reason = fmt.Sprintf("%s %s, over the limit of %s", stat, fmtMS(value), fmtMS(limit))
		}
	}
	return s
}

// over attaches the distribution the row's statistic was taken from.
func (s SLA) over(d Dist) SLA {
	s.Dist = &d
	return s
}

// requires marks a row the scenario should have produced data for (a fault
// of its kind was configured): without samples it fails, with why.
func (s SLA) requires(configured bool, why string) SLA {
	if configured && s.N == 0 {
		s.Result, s.Reason = Fail, "no data: "+why
	}
	return s
}

// Report is the end-of-run report.
type Report struct {
	Started  time.Time `json:"started"`
	Vehicles int       `json:"vehicles"`
	// Enrolled trucks were newly provisioned this run; the others reused
	// cached credentials.
	Enrolled int `json:"enrolled"`
	// Ready trucks were driving (resumed by the gateway) when the scenario
	// started, of Eligible: the trucks expected to drive (all but those
	// whose clock skew the gateway refuses).
	Ready             int           `json:"ready"`
	Eligible          int           `json:"eligible"`
	ReadyAfter        time.Duration `json:"-"`
	ReadyAfterMS      float64       `json:"ready_after_ms"`
	Scenario          time.Duration `json:"-"`
	ScenarioMS        float64       `json:"scenario_ms"`
	HeartbeatInterval time.Duration `json:"-"`
	IntervalMS        float64       `json:"heartbeat_interval_ms"`
	Misses            int           `json:"misses"`
	Faults            []GroupReport `json:"faults"`
	SLAs              []SLA         `json:"sla"`
	Vehicle           VehicleReport `json:"vehicle"`
	// Gateway is nil when the runner had no access to the gateway's events.
	Gateway *GatewayReport `json:"gateway,omitempty"`
}

// GroupReport is one fault group as applied.
type GroupReport struct {
	Name   string `json:"name"`
	Trucks int    `json:"trucks"`
	What   string `json:"what"`
}

// VehicleReport are the figures the trucks measured.
type VehicleReport struct {
	// LastAckToSafeState: from the send time of the last answered heartbeat
	// to safe_state, for stops that began at cruise speed (the SLA figure).
	LastAckToSafeState Dist `json:"last_ack_to_safe_state"`
	// LinkLossToStopping and LinkLossToSafeState: from the start of a
	// blackout to the maneuver's start and to safe_state.
	LinkLossToStopping  Dist `json:"link_loss_to_stopping"`
	LinkLossToSafeState Dist `json:"link_loss_to_safe_state"`
	// StopDuration: stopping → safe_state.
	StopDuration Dist `json:"stop_duration"`
	Stops        int  `json:"stops"`
	// StopsFromCruise began within 2 % of the cruise speed.
	StopsFromCruise int `json:"stops_from_cruise"`
	// Unfinished stops had not reached safe_state when the run ended.
	Unfinished int `json:"unfinished"`
	// FalseStops began with no link outage (jitter, loss or load made
	// Misses heartbeats in a row go unanswered).
	FalseStops int `json:"false_stops"`
	// Resumed stops ended with a gateway resume; ResumedOnOldSession of
	// them on a session from before their outage ended (expected 0: the
	// gateway drops a silent session long before a stop ends).
	Resumed             int            `json:"resumed"`
	ResumedOnOldSession int            `json:"resumed_on_old_session"`
	HeartbeatMisses     int64          `json:"heartbeat_misses"`
	Connects            int64          `json:"connects"`
	Disconnects         map[string]int `json:"disconnects"`
	DialsRefused        int64          `json:"dials_refused"`
	ConnResets          int64          `json:"conn_resets"`
	TelemetrySent       int64          `json:"telemetry_sent"`
	TelemetryAcked      int64          `json:"telemetry_acked"`
	TelemetryBuffered   int64          `json:"telemetry_buffered"`
	TelemetryDropped    int64          `json:"telemetry_dropped"`
	TelemetryRejected   map[string]int `json:"telemetry_rejected"`
	ResumeRejected      map[string]int `json:"resume_rejected"`
	GatewayRejected     map[string]int `json:"gateway_frames_rejected"`
	// CommandsAccepted and CommandsRejected: the gateway's commands the
	// trucks' AV stacks took and declined (Config.Commands).
	CommandsAccepted int64 `json:"commands_accepted"`
	CommandsRejected int64 `json:"commands_rejected"`
	// DuplicateExecutions counts the runs of a truck's AV stack on a
	// command it had run before (by command id): the agent promises none
	// (its executed-command log), however often the gateway redelivers
	// across reconnects. Any fails --check. DuplicateCommands names (some
	// of) those commands, as "vehicle/command".
	DuplicateExecutions int64    `json:"duplicate_executions"`
	DuplicateCommands   []string `json:"duplicate_execution_commands,omitempty"`
	// StopEvents*: the stop events of dispatched loads the trucks reported
	// (ReportStop): recorded by the gateway, refused, not answered.
	StopEventsRecorded   int64 `json:"stop_events_recorded"`
	StopEventsRefused    int64 `json:"stop_events_refused"`
	StopEventsUnanswered int64 `json:"stop_events_unanswered"`
	// Modes at the end of the scenario, before the agents said goodbye.
	Modes map[string]int `json:"modes"`
}

// GatewayReport are the figures from the gateway's own events.
type GatewayReport struct {
	Source string `json:"source"`
	// Detection: from the vehicle's last proof of life (its last
	// heartbeat, or a later handshake) to the comm_lost declaration.
	Detection Dist `json:"detection"`
	// LagPastDeadline is the event's detection_latency_ms: declaration
	// minus the deadline (last proof of life + interval × misses).
	LagPastDeadline Dist `json:"lag_past_deadline"`
	CommLost        int  `json:"comm_lost"`
	// Expected comm_lost declarations came during (or within interval ×
	// misses + 1 s after) a link outage of that truck; the others are
	// false.
	Expected int      `json:"expected"`
	False    int      `json:"false"`
	FalseIDs []string `json:"false_vehicles,omitempty"`
	// AtShutdown comm_lost declarations came after the scenario ended, for
	// trucks whose agent was stopped: its goodbye did not reach the gateway
	// (see the agent's Run). Not counted as false; not in Detection.
	AtShutdown int `json:"at_shutdown"`
	// EarlierRun comm_lost declarations are for trucks silent since before
	// this run started: an earlier run's agent whose goodbye did not reach
	// the gateway, declared as this run began. Not counted.
	EarlierRun int `json:"earlier_run"`
	// Undetected blackouts: of a truck connected when its link went, long
	// enough to be declared, over before the report, and no comm_lost for
	// them.
	Undetected int `json:"undetected"`
	// Blackouts is how many blackouts were checked for a declaration.
	Blackouts     int            `json:"blackouts_checked"`
	UndetectedIDs []string       `json:"undetected_vehicles,omitempty"`
	ResumesSent   int            `json:"resumes_sent"`
	Findings      map[string]int `json:"findings"`
	// FindingsUnfaulted counts findings on trucks without that sensor
	// fault (expected 0).
	FindingsUnfaulted map[string]int `json:"findings_on_healthy_trucks"`
	// EventsDropped: transitions the liveness monitor could not deliver
	// (its queue overflowed); the comm_lost figures miss that many.
	EventsDropped int `json:"events_dropped"`
}

// outageWin is a span during which a truck's link was down (a blackout, or
// the whole time it flapped).
type outageWin struct {
	start, end time.Time
	blackout   bool
}

func outagesOf(f Faults, t0, runEnd time.Time) []outageWin {
	var out []outageWin
	if f.Blackout.For > 0 {
		s := t0.Add(f.Blackout.At)
		out = append(out, outageWin{start: s, end: s.Add(f.Blackout.For), blackout: true})
	}
	if f.FlapEvery > 0 {
		s := t0.Add(f.FlapWindow.At)
		e := runEnd
		if f.FlapWindow.For > 0 {
			e = s.Add(f.FlapWindow.For)
		}
		out = append(out, outageWin{start: s, end: e})
	}
	return out
}

// reportInput is what buildReport works from.
type reportInput struct {
	cfg       Config
	started   time.Time
	t0        time.Time // scenario start; zero if it never started
	end       time.Time // scenario end
	ready     int       // trucks driving when the scenario started
	eligible  int       // trucks expected to drive
	enrolled  int
	trucks    []truckResult
	modes     map[string]int
	acked     int64
	buffered  int64
	gw        *gatewayLog
	gwSource  string
	groupSize []int
}

func buildReport(in reportInput) *Report {
	cfg := in.cfg
	span := time.Duration(cfg.Misses) * cfg.HeartbeatInterval
	r := &Report{Started: in.started, Vehicles: len(in.trucks), Enrolled: in.enrolled, Ready: in.ready, Eligible: in.eligible, HeartbeatInterval: cfg.HeartbeatInterval,
		IntervalMS: ms(cfg.HeartbeatInterval), Misses: cfg.Misses}
	if !in.t0.IsZero() {
		r.ReadyAfter = in.t0.Sub(in.started)
		r.Scenario = in.end.Sub(in.t0)
		r.ReadyAfterMS, r.ScenarioMS = ms(r.ReadyAfter), ms(r.Scenario)
	}
	for i, g := range cfg.Faults {
		r.Faults = append(r.Faults, GroupReport{Name: g.Name, Trucks: in.groupSize[i], What: describeFaults(g.Faults)})
	}

	vr := &r.Vehicle
	vr.Disconnects, vr.TelemetryRejected, vr.ResumeRejected, vr.GatewayRejected = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	vr.Modes = in.modes
	vr.TelemetryAcked, vr.TelemetryBuffered = in.acked, in.buffered
	var lastAck, lossStop, lossSafe, stopDur []time.Duration
	outages := map[string][]outageWin{}
	blackedOut, jumped, speedFaulted := 0, 0, 0
	for _, t := range in.trucks {
		if t.Faults.Blackout.For > 0 {
			blackedOut++
		}
		if t.Faults.GNSSJump.For > 0 {
			jumped++
		}
		if t.Faults.SpeedDisagreement.For > 0 {
			speedFaulted++
		}
		var wins []outageWin
		if !in.t0.IsZero() {
			wins = outagesOf(t.Faults, in.t0, in.end)
		}
		outages[t.ID] = wins
		vr.HeartbeatMisses += t.Misses
		vr.TelemetrySent += t.Sent
		vr.TelemetryDropped += t.Dropped
		vr.DialsRefused += t.Refused
		vr.ConnResets += t.Resets
		vr.Connects += t.Connects
		vr.CommandsAccepted += t.CmdAccepted
		vr.CommandsRejected += t.CmdRejected
		vr.DuplicateExecutions += t.CmdDuplicates
		for _, id := range t.DupIDs {
			vr.DuplicateCommands = append(vr.DuplicateCommands, t.ID+"/"+id)
		}
		vr.StopEventsRecorded += t.StopsReported
		vr.StopEventsRefused += t.StopsRefused
		vr.StopEventsUnanswered += t.StopsUnanswered
		for k, n := range t.Disc {
			vr.Disconnects[string(k)] += n
		}
		for k, n := range t.TelRej {
			vr.TelemetryRejected[k] += n
		}
		for k, n := range t.ResumeRej {
			vr.ResumeRejected[string(k)] += n
		}
		for k, n := range t.GwRej {
			vr.GatewayRejected[string(k)] += n
		}
		for _, s := range t.Stops {
			vr.Stops++
			if s.Safe.IsZero() {
				vr.Unfinished++
				continue
			}
			var o *outageWin
			for i := range wins {
				if w := &wins[i]; !s.Began.Before(w.start) && !s.Began.After(w.end.Add(span+outageSlack)) {
					o = w
					break
				}
			}
			if o == nil {
				vr.FalseStops++
			}
			stopDur = append(stopDur, s.Safe.Sub(s.Began))
			// The watchdog trips at the first tick at or after its last
			// proof + interval × misses, so Began − interval × misses is
			// the last proof to within the tick's lateness (never earlier
			// than the truth). A blackout's start bounds it from above as
			// well: no heartbeat sent after it was answered.
			proof := s.Began.Add(-span)
			if o != nil && o.blackout && o.start.Before(proof) {
				proof = o.start
			}
			if s.V0 >= (1-cruiseTolerance)*cfg.Cruise {
				vr.StopsFromCruise++
				lastAck = append(lastAck, s.Safe.Sub(proof))
			}
			if o != nil && o.blackout {
				lossStop = append(lossStop, s.Began.Sub(o.start))
				lossSafe = append(lossSafe, s.Safe.Sub(o.start))
			}
			if !s.Resumed.IsZero() {
				vr.Resumed++
				if o != nil && o.blackout && s.ResumeSession.Before(o.end) {
					vr.ResumedOnOldSession++
				}
			}
		}
	}
	vr.LastAckToSafeState, vr.LinkLossToStopping, vr.LinkLossToSafeState, vr.StopDuration =
		distOf(lastAck), distOf(lossStop), distOf(lossSafe), distOf(stopDur)
	// The rows a blackout must fill: ScenarioProblems keeps a blackout
	// that cannot fill them out of the scenario.
	blackout := blackedOut > 0
	r.SLAs = append(r.SLAs, check("vehicle: last answered heartbeat → safe_state, from cruise", "max",
		vr.LastAckToSafeState.Max, ms(SafeStateSLA), vr.LastAckToSafeState.N).over(vr.LastAckToSafeState).
		requires(blackout, fmt.Sprintf("no stop from cruise reached safe_state, though %d trucks blacked out", blackedOut)),
		// A stop without an outage is the vehicle-side false alarm: acks
		// that came too late (jitter, loss, an overloaded gateway). Under
		// a heavy --loss it may be the right reaction; under 200 ms of
		// jitter it never is.
		check("vehicle: stops without a link outage", "count", float64(vr.FalseStops), 0, vr.Stops))

	if in.gw != nil {
		r.Gateway = gatewayFigures(in, span, outages)
		g := r.Gateway
		r.SLAs = append(r.SLAs,
			check("gateway: last heartbeat → comm_lost", "p99", g.Detection.P99, ms(span+DetectionSLAExtra), g.Detection.N).over(g.Detection).
				requires(blackout, fmt.Sprintf("the gateway declared no comm_lost, though %d trucks blacked out", blackedOut)),
			check("gateway: false comm_lost", "count", float64(g.False), 0, g.CommLost),
			check("gateway: blackouts without comm_lost", "count", float64(g.Undetected), 0, g.Blackouts).
				requires(blackout, fmt.Sprintf("none of the %d blacked-out trucks had a session when its link went and a blackout over before the end", blackedOut)))
		if jumped > 0 || speedFaulted > 0 || len(g.Findings) > 0 {
			r.SLAs = append(r.SLAs, findingsRow(g, jumped, speedFaulted))
		}
	}
	return r
}

// findingsRow checks the plausibility findings: none on a truck without
// the fault (the count), and at least one of each kind whose sensor fault
// was configured on jumped and speedFaulted trucks (else "no data").
func findingsRow(g *GatewayReport, jumped, speedFaulted int) SLA {
	found, unfaulted := 0, 0
	for code, n := range g.Findings {
		found += n
		unfaulted += g.FindingsUnfaulted[code]
	}
	row := check("gateway: plausibility findings on trucks without that fault", "count", float64(unfaulted), 0, found)
	var missing []string
	for _, k := range []struct {
		code   string
		trucks int
		fault  string
	}{{codes.PositionJump, jumped, "a GNSS jump"}, {codes.SpeedDisagreement, speedFaulted, "a wheel/GNSS speed disagreement"}} {
		if k.trucks > 0 && g.Findings[k.code]-g.FindingsUnfaulted[k.code] == 0 {
			missing = append(missing, fmt.Sprintf("no %s finding on the %d trucks with %s", k.code, k.trucks, k.fault))
		}
	}
	if len(missing) > 0 {
		reason := "no data: " + strings.Join(missing, "; ")
		if row.Reason != "" {
			reason += "; " + row.Reason
		}
		row.Result, row.Reason = Fail, reason
	}
	return row
}

func gatewayFigures(in reportInput, span time.Duration, outages map[string][]outageWin) *GatewayReport {
	g := &GatewayReport{Source: in.gwSource, Findings: map[string]int{}, FindingsUnfaulted: map[string]int{}}
	var det, lag []time.Duration
	detected := map[string]bool{}
	for _, e := range in.gw.events(codes.CommLost) {
		wins, ours := outages[e.Vehicle]
		if !ours || e.Time.Before(in.started) {
			continue
		}
		if dl := e.attrTime("deadline"); !dl.IsZero() && dl.Add(-span).Before(in.started) {
			g.EarlierRun++
			continue
		}
		expected := false
		for _, w := range wins {
			if !e.Time.Before(w.start) && !e.Time.After(w.end.Add(span+outageSlack)) {
				expected = true
				if w.blackout {
					detected[e.Vehicle] = true
				}
			}
		}
		// Silent only since the agents were stopped: a shutdown, not a
		// detection of anything in the scenario.
		if dl := e.attrTime("deadline"); !expected && !dl.IsZero() && !dl.Add(-span).Before(in.end.Add(-2*in.cfg.HeartbeatInterval)) {
			g.AtShutdown++
			continue
		}
		g.CommLost++
		if dl := e.attrTime("deadline"); !dl.IsZero() {
			det = append(det, e.Time.Sub(dl.Add(-span)))
		} else if hb := e.attrTime("last_heartbeat"); !hb.IsZero() {
			det = append(det, e.Time.Sub(hb))
		}
		if l, ok := e.attrNumber("detection_latency_ms"); ok {
			lag = append(lag, time.Duration(l*float64(time.Millisecond)))
		}
		if expected {
			g.Expected++
		} else {
			g.False++
			if len(g.FalseIDs) < 20 {
				g.FalseIDs = append(g.FalseIDs, e.Vehicle)
			}
		}
	}
	g.Detection, g.LagPastDeadline = distOf(det), distOf(lag)
	// A blackout must be declared if it outlasted the deadline and its
	// declaration was due before the report read the events.
	for _, t := range in.trucks {
		for _, w := range outages[t.ID] {
			// Only a truck with a session when the link went: one that
			// was not connected had nothing for the gateway to lose.
			if !w.blackout || !connectedAt(t.Sessions, w.start) || w.end.Sub(w.start) < span+outageSlack || w.end.Add(span+outageSlack).After(in.end) {
				continue
			}
			g.Blackouts++
			if !detected[t.ID] {
				g.Undetected++
				if len(g.UndetectedIDs) < 20 {
					g.UndetectedIDs = append(g.UndetectedIDs, t.ID)
				}
			}
		}
	}
	faults := map[string]Faults{}
	for _, t := range in.trucks {
		faults[t.ID] = t.Faults
	}
	for _, e := range in.gw.events(codes.SessionResumeSent) {
		if _, ok := faults[e.Vehicle]; ok && !e.Time.Before(in.started) {
			g.ResumesSent++
		}
	}
	for _, code := range []string{codes.PositionJump, codes.SpeedDisagreement} {
		for _, e := range in.gw.events(code) {
			f, ok := faults[e.Vehicle]
			if !ok || e.Time.Before(in.started) {
				continue
			}
			g.Findings[code]++
			faulted := (code == codes.PositionJump && f.GNSSJump.For > 0) ||
				(code == codes.SpeedDisagreement && f.SpeedDisagreement.For > 0)
			if !faulted {
				g.FindingsUnfaulted[code]++
			}
		}
	}
	for _, e := range in.gw.events(codes.LivenessEventsDropped) {
		if n, ok := e.attrNumber("count"); ok && !e.Time.Before(in.started) {
			g.EventsDropped += int(n)
		}
	}
	return g
}

func describeFaults(f Faults) string {
	var parts []string
	if f.Latency > 0 || f.Jitter > 0 {
		parts = append(parts, fmt.Sprintf("latency %v + jitter %v each way", f.Latency, f.Jitter))
	}
	if f.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %.2g%%", 100*f.Loss))
	}
	if f.Blackout.For > 0 {
		parts = append(parts, fmt.Sprintf("blackout at %v for %v", f.Blackout.At, f.Blackout.For))
	}
	if f.FlapEvery > 0 {
		w := "to the end"
		if f.FlapWindow.For > 0 {
			w = "for " + f.FlapWindow.For.String()
		}
		parts = append(parts, fmt.Sprintf("flapping every %v from %v %s", f.FlapEvery, f.FlapWindow.At, w))
	}
	if f.ClockSkew != 0 {
		parts = append(parts, fmt.Sprintf("clock skew %v", f.ClockSkew))
	}
	if f.GNSSJump.For > 0 {
		parts = append(parts, fmt.Sprintf("GNSS jump at %v for %v", f.GNSSJump.At, f.GNSSJump.For))
	}
	if f.SpeedDisagreement.For > 0 {
		parts = append(parts, fmt.Sprintf("wheel/GNSS speed disagreement at %v for %v", f.SpeedDisagreement.At, f.SpeedDisagreement.For))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Failed reports whether an SLA check failed.
func (r *Report) Failed() bool {
	for _, s := range r.SLAs {
		if s.Result == Fail {
			return true
		}
	}
	return false
}

// CheckFailures lists what makes `sim fleet --check` fail: an SLA row that
// failed (over its limit, or without data for a fault that was
// configured), a scenario that never started, trucks that were not all
// driving when it started (the faults then hit fewer trucks than
// configured, and the figures cover a different fleet), and gateway
// figures that could not be read.
func (r *Report) CheckFailures() []string {
	var out []string
	if r.Scenario <= 0 {
		out = append(out, "the scenario did not start (stopped first)")
	} else if r.Ready < r.Eligible {
		out = append(out, fmt.Sprintf("only %d of the %d trucks expected to drive were driving when the scenario started", r.Ready, r.Eligible))
	}
	if r.Gateway == nil {
		out = append(out, "the gateway's figures were not measured (no access to its events)")
	}
	for _, s := range r.SLAs {
		if s.Result == Fail {
			out = append(out, s.Name+": "+s.Reason)
		}
	}
	if n := r.Vehicle.DuplicateExecutions; n > 0 {
		out = append(out, fmt.Sprintf("the trucks' AV stacks ran %d command(s) again that they had run before (exactly once expected)%s",
			n, idList(r.Vehicle.DuplicateCommands)))
	}
	return out
}

func fmtMS(v float64) string {
	switch {
	case v >= 10_000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func distRow(w io.Writer, name string, d Dist) {
	if d.N == 0 {
		fmt.Fprintf(w, "  %s\t0\t-\t-\t-\t\t\n", name)
		return
	}
	fmt.Fprintf(w, "  %s\t%d\t%s\t%s\t%s\t\t\n", name, d.N, fmtMS(d.P50), fmtMS(d.P99), fmtMS(d.Max))
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	if r.Scenario > 0 {
		fmt.Fprintf(w, "fifthwheel sim fleet: %d trucks (%d enrolled this run), %d of %d expected driving when the scenario started (%s after start), scenario %s, heartbeat %v × %d misses\n",
			r.Vehicles, r.Enrolled, r.Ready, r.Eligible, fmtMS(r.ReadyAfterMS), fmtMS(r.ScenarioMS), r.HeartbeatInterval, r.Misses)
	} else {
		fmt.Fprintf(w, "fifthwheel sim fleet: %d trucks (%d enrolled this run), %d driving; the scenario did not start (stopped first), heartbeat %v × %d misses\n",
			r.Vehicles, r.Enrolled, r.Ready, r.HeartbeatInterval, r.Misses)
	}
	for _, g := range r.Faults {
		fmt.Fprintf(w, "  faults %-10s %5d trucks: %s\n", g.Name, g.Trucks, g.What)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLA\tn\tstat\tvalue\tlimit\tresult")
	for _, s := range r.SLAs {
		val, lim := fmtMS(s.Value), fmtMS(s.Limit)
		if s.Stat == "count" {
			val, lim = fmt.Sprintf("%.0f", s.Value), fmt.Sprintf("%.0f", s.Limit)
		}
		if s.N == 0 && s.Stat != "count" {
			val = "-"
		}
		res := s.Result
		if strings.HasPrefix(s.Reason, "no data: ") {
			res += " (" + s.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t≤ %s\t%s\n", s.Name, s.N, s.Stat, val, lim, res)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "figure\tn\tp50\tp99\tmax\t\t")
	v := r.Vehicle
	distRow(tw, "vehicle: last answered heartbeat → safe_state (from cruise)", v.LastAckToSafeState)
	distRow(tw, "vehicle: blackout start → stopping", v.LinkLossToStopping)
	distRow(tw, "vehicle: blackout start → safe_state", v.LinkLossToSafeState)
	distRow(tw, "vehicle: stopping → safe_state", v.StopDuration)
	if g := r.Gateway; g != nil {
		distRow(tw, "gateway: last heartbeat → comm_lost", g.Detection)
		distRow(tw, "gateway: comm_lost declared past the deadline", g.LagPastDeadline)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "vehicle: stops %d (from cruise %d, unfinished %d, without an outage %d), resumed %d (on a pre-outage session %d), modes at end %s\n",
		v.Stops, v.StopsFromCruise, v.Unfinished, v.FalseStops, v.Resumed, v.ResumedOnOldSession, fmtCounts(v.Modes))
	fmt.Fprintf(w, "vehicle: heartbeat misses %d, connects %d, disconnects %s, dials refused %d, resets %d\n",
		v.HeartbeatMisses, v.Connects, fmtCounts(v.Disconnects), v.DialsRefused, v.ConnResets)
	fmt.Fprintf(w, "vehicle: telemetry sent %d, acked %d, still buffered %d, dropped %d, rejected %s\n",
		v.TelemetrySent, v.TelemetryAcked, v.TelemetryBuffered, v.TelemetryDropped, fmtCounts(v.TelemetryRejected))
	if v.CommandsAccepted > 0 || v.CommandsRejected > 0 {
		fmt.Fprintf(w, "vehicle: commands accepted %d, rejected %d, executed again %d\n", v.CommandsAccepted, v.CommandsRejected, v.DuplicateExecutions)
	}
	if v.DuplicateExecutions > 0 {
		fmt.Fprintf(w, "vehicle: WARNING: %d duplicate command execution(s)%s\n", v.DuplicateExecutions, idList(v.DuplicateCommands))
	}
	if n := v.StopEventsRecorded + v.StopEventsRefused + v.StopEventsUnanswered; n > 0 {
		fmt.Fprintf(w, "vehicle: stop events recorded %d, refused %d, not answered %d\n", v.StopEventsRecorded, v.StopEventsRefused, v.StopEventsUnanswered)
	}
	if len(v.ResumeRejected) > 0 || len(v.GatewayRejected) > 0 {
		fmt.Fprintf(w, "vehicle: resumes refused %s, gateway frames refused %s\n", fmtCounts(v.ResumeRejected), fmtCounts(v.GatewayRejected))
	}
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "gateway (%s): comm_lost %d (during outages %d, false %d%s), blackouts without comm_lost %d%s, resumes sent %d\n",
			g.Source, g.CommLost, g.Expected, g.False, idList(g.FalseIDs), g.Undetected, idList(g.UndetectedIDs), g.ResumesSent)
		if g.AtShutdown > 0 {
			fmt.Fprintf(w, "gateway: %d comm_lost after the scenario ended: trucks whose goodbye did not reach the gateway when their agent stopped (not counted above)\n", g.AtShutdown)
		}
		if g.EarlierRun > 0 {
			fmt.Fprintf(w, "gateway: %d comm_lost for trucks silent since before this run started: an earlier run's trucks whose goodbye did not reach the gateway (not counted above)\n", g.EarlierRun)
		}
		fmt.Fprintf(w, "gateway: plausibility findings %s (on trucks without that fault %s)\n", fmtCounts(g.Findings), fmtCounts(g.FindingsUnfaulted))
		if g.EventsDropped > 0 {
			fmt.Fprintf(w, "gateway: WARNING: the liveness monitor dropped %d transition events; the comm_lost figures are incomplete\n", g.EventsDropped)
		}
	} else {
		fmt.Fprintln(w, "gateway: no access to the gateway's events (give --data or --store): gateway figures not measured")
	}
	return nil
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ": " + strings.Join(ids, ", ")
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
