package drill

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/forensics"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Outcome is a drill's result.
type Outcome string

// The outcomes. Only Pass counts as passed.
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	NotAvailable Outcome = "not_available"
)

// Drill is one attack or fault and what the gateway must do about it.
type Drill struct {
	// Name is the drill's stable name (--only NAME).
	Name string
	// Control is the gateway control under test.
	Control string
	// Asset, Actor and Vector place the drill in the threat model
	// (docs/THREATMODEL.md): what is protected, who attacks, how.
	Asset, Actor, Vector string
	// Checklist is the item of the seed's developer checklist the drill
	// evidences.
	Checklist string
	// Issue, for a drill that is not available yet, is the issue whose
	// capability it needs; Run is nil then.
	Issue int
	// Exclusive drills run alone (faults that would disturb others).
	Exclusive bool
	// Run performs the attack and records its checks in p.
	Run func(ctx context.Context, t *Target, p *Probe) error
}

// Target is the gateway under drill.
type Target struct {
	// URL is the vehicle listener, https://host:port.
	URL string
	// RootPEM is the fleet root the gateway's certificate chains to.
	RootPEM []byte
	// Provisioner enrolls drill vehicles (the fleet CA's join tokens and
	// the public enrollment path).
	Provisioner sim.Provisioner
	// Issue issues a certificate and key for a principal of another kind
	// than a vehicle from the fleet CA (the wrong-profile drill).
	Issue func(ctx context.Context, p principal.Principal) (tls.Certificate, error)
	// Revoke revokes every certificate of a vehicle (key compromise), as
	// `pki revoke --vehicle ID` does (the revocation drill).
	Revoke func(ctx context.Context, vehicleID string) error
	// Events reads the gateway's security events (its store).
	Events sim.EventLister
	// ClockSkew and Window are the gateway's telemetry.clock_skew and
	// telemetry.window: the skew drill goes beyond the first, the
	// rollback drill beyond the second.
	ClockSkew time.Duration
	Window    int64
	// Plausibility is the gateway's plausibility.* thresholds (zero
	// fields: the defaults of internal/plausibility, as on the gateway):
	// the GNSS jump drill jumps beyond the implied-speed limit, the
	// wheel/GNSS drill disagrees beyond the ratio for the frame count.
	Plausibility plausibility.Config
	// Prefix names drill vehicles PREFIX-<drill>-<n>, and the TMS access
	// drills' clients, vehicles and carriers likewise.
	Prefix string
	// GatewayFrameKeys are the gateway's published frame keys, which a
	// truck on the agent SDK pins; HeartbeatInterval and HeartbeatMisses
	// are the gateway's heartbeat.* settings, which its trucks share.
	GatewayFrameKeys []agent.GatewayFrameKey
	// GatewayCommandKeys are the gateway's published command keys, which
	// the drill trucks pin too (they accept every command they verify).
	GatewayCommandKeys []agent.GatewayCommandKey
	HeartbeatInterval  time.Duration
	HeartbeatMisses    int
	// IssueCAForgery issues, from the fleet CA's issuing intermediate, a
	// certificate and its key carrying the enrolled vehicle's exact
	// identity but basicConstraints CA:TRUE: what a misissuing CA would
	// sign (the ca-certificate-as-client drill; pki.IssueDrillCACertificate
	// on the real gateway: short-lived, path length 0, recorded as the
	// vehicle's, so the drill revokes it with the vehicle when it ends).
	IssueCAForgery func(ctx context.Context, vehicleID string) (tls.Certificate, error)
	// ResumeStableHeartbeats is the gateway's
	// session.resume_stable_heartbeats: the flapping drill keeps the link
	// up for less than that hold-down in each flap.
	ResumeStableHeartbeats int
	// MaxPendingHandshakesPerSource is the gateway's
	// tls.max_pending_handshakes_per_source: the handshake-stall drill
	// opens more silent sockets than it from one source.
	MaxPendingHandshakesPerSource int
	// AggregateWindow is the gateway's events.aggregate_window: the flood
	// drill waits for the summaries of the windows its flood opened, and
	// bounds the events it may leave by it.
	AggregateWindow time.Duration
	// AttackSource is a local IP address, other than the one the drill
	// trucks connect from, that the drills attacking from a host without
	// a certificate (handshake-stall, unauthenticated-event-flood) dial
	// from: the gateway's bounds are per source, and the trucks must not
	// share the attacker's. Empty: 127.0.0.2 against a gateway on IPv4
	// loopback; against any other those drills fail, asking for it.
	AttackSource string
	// TMSURL is the TMS listener, https://host:port, trusted through
	// RootPEM as the vehicle listener is (the TMS access drills).
	TMSURL string
	// RegisterClient registers a drill TMS client id of carrier with
	// roles and issues its certificate and key from the fleet CA, as
	// `client add ID --carrier C --roles R` then `pki issue client ID` do.
	RegisterClient func(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error)
	// RegisterVehicle registers a drill vehicle id of carrier, with no
	// credential (it never connects: it is what a TMS client reads), as
	// `vehicle add ID --carrier C` does.
	RegisterVehicle func(ctx context.Context, id, carrier string) error
	// RevokeClient revokes every certificate of TMS client id (key
	// compromise), as `pki revoke --client ID` does: the revoked-client
	// drill's event, and every TMS access drill's clean-up.
	RevokeClient func(ctx context.Context, id string) error
	// TruckConfig, if set, adjusts the agent configuration of the
	// command drills' trucks (tests only: trucks with a check switched
	// off, the proof that a drill fails without the defence).
	TruckConfig func(*agent.Config)
	// Audit is the gateway's audit log and raw database access, for the
	// audit-log-tampering drill (an insider with database access); nil:
	// that drill fails, saying so.
	Audit *AuditLog
	// ExportBundle exports the forensic bundle of vehicleID over the last
	// since for caseID, as `forensics export` does, and returns it with
	// the audit log's verifier key (the forensics drills). Nil: those
	// drills fail, saying so.
	ExportBundle func(ctx context.Context, vehicleID string, since time.Duration, caseID string) (bundle []byte, logKey string, err error)
	// VerifyBundle, if set, replaces forensics.Verify in the forensics
	// drills (tests only: a verifier that accepts everything, the proof
	// that those drills fail without the defence).
	VerifyBundle func(bundle []byte, logKey note.Verifier) *forensics.Result
	// Detection is the gateway's detection and incident response, for the
	// detection drills (replay to incident, containment, SIEM delivery);
	// nil: those drills fail, saying so.
	Detection *Detection
}

// Check is one expectation a drill verified.
type Check struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// Timing is one measured duration, with its SLA when there is one.
type Timing struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
	// SLAMS is the limit in milliseconds, 0 when the figure has none.
	SLAMS float64 `json:"sla_ms,omitempty"`
}

// Event is a gateway event a drill saw, as its store keeps it.
type Event struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Code    string    `json:"code"`
	Verdict string    `json:"verdict"`
	Subject string    `json:"subject"`
}

// Probe collects a running drill's evidence. Its methods are safe for
// concurrent use.
type Probe struct {
	eventWait time.Duration
	mu        sync.Mutex
	checks    []Check
	events    []Event
	timings   []Timing
}

// Check records an expectation and whether it held; it returns ok.
func (p *Probe) Check(what, want, got string) bool {
	ok := want == got
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, Check{What: what, Want: want, Got: got, OK: ok})
	return ok
}

// Event records a gateway event as evidence.
func (p *Probe) Event(r store.EventRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.events) < maxEvidenceEvents {
		p.events = append(p.events, Event{Seq: r.Seq, Time: r.Time, Code: r.Code, Verdict: r.Verdict, Subject: r.Subject})
	}
}

// Timing records a measured duration against its SLA (0: none).
func (p *Probe) Timing(name string, d, sla time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timings = append(p.timings, Timing{Name: name, MS: ms(d), SLAMS: ms(sla)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Result is one drill's outcome and evidence.
type Result struct {
	Name       string    `json:"name"`
	Control    string    `json:"control"`
	Asset      string    `json:"asset"`
	Actor      string    `json:"actor"`
	Vector     string    `json:"vector"`
	Checklist  string    `json:"checklist"`
	Outcome    Outcome   `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
	Issue      int       `json:"issue,omitempty"`
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"duration_ms"`
	Checks     []Check   `json:"checks"`
	Events     []Event   `json:"events"`
	Timings    []Timing  `json:"timings"`
}

// Config is how Run runs a catalogue.
type Config struct {
	// Timeout bounds each drill (0: DefaultDrillTimeout).
	Timeout time.Duration
	// Parallel is how many drills run at once (0: DefaultParallel).
	Parallel int
	// EventWait is how long a drill waits for its event to be readable
	// in the store (0: DefaultEventWait).
	EventWait time.Duration
	// Progress, if set, is called as each drill finishes.
	Progress func(Result)
}

// Run runs the drills against t: the non-exclusive ones concurrently, then
// the exclusive ones one at a time. Results are in the catalogue's order.
func Run(ctx context.Context, t *Target, drills []Drill, cfg Config) []Result {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDrillTimeout
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.EventWait <= 0 {
		cfg.EventWait = DefaultEventWait
	}
	res := make([]Result, len(drills))
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for i, d := range drills {
		if d.Exclusive {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res[i] = runOne(ctx, t, d, cfg)
		})
	}
	wg.Wait()
	for i, d := range drills {
		if d.Exclusive {
			res[i] = runOne(ctx, t, d, cfg)
		}
	}
	return res
}

// runOne runs one drill under its timeout and judges it.
func runOne(ctx context.Context, t *Target, d Drill, cfg Config) Result {
	r := Result{Name: d.Name, Control: d.Control, Asset: d.Asset, Actor: d.Actor, Vector: d.Vector,
		Checklist: d.Checklist, Issue: d.Issue, Started: time.Now().UTC(),
		Checks: []Check{}, Events: []Event{}, Timings: []Timing{}}
	defer func() {
		if cfg.Progress != nil {
			cfg.Progress(r)
		}
	}()
	if d.Run == nil {
		r.Outcome = NotAvailable
		r.Reason = fmt.Sprintf("needs the capability of issue %d, not landed yet", d.Issue)
		return r
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	p := &Probe{eventWait: cfg.EventWait}
	start := time.Now()
	err := runSafe(dctx, d, t, p)
	r.DurationMS = ms(time.Since(start))
	p.mu.Lock()
	r.Checks = append(r.Checks, p.checks...)
	r.Events = append(r.Events, p.events...)
	r.Timings = append(r.Timings, p.timings...)
	p.mu.Unlock()
	r.Outcome, r.Reason = judge(err, r.Checks, r.Timings)
	return r
}

// runSafe runs d, turning a panic into an error: one broken drill must
// not take the catalogue down.
func runSafe(ctx context.Context, d Drill, t *Target, p *Probe) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("drill panicked: %v", v)
		}
	}()
	return d.Run(ctx, t, p)
}

// judge decides a drill's outcome: it passes only if it ran to the end,
// recorded at least one check, every check held and every timing is
// within its SLA.
func judge(err error, checks []Check, timings []Timing) (Outcome, string) {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Fail, "timed out: " + err.Error()
		}
		return Fail, err.Error()
	}
	if len(checks) == 0 {
		return Fail, "measured nothing"
	}
	for _, c := range checks {
		if !c.OK {
			return Fail, fmt.Sprintf("%s: want %s, got %s", c.What, c.Want, c.Got)
		}
	}
	for _, tm := range timings {
		if tm.SLAMS > 0 && tm.MS > tm.SLAMS {
			return Fail, fmt.Sprintf("%s: %.0f ms, over its SLA of %.0f ms", tm.Name, tm.MS, tm.SLAMS)
		}
	}
	return Pass, ""
}
