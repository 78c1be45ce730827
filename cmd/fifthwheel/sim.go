package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// simJoinTokenTTL: a join token minted for a simulated truck is used at
// once; 30 minutes covers the ramp of the largest fleet.
const simJoinTokenTTL = 30 * time.Minute

func (a *app) simCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "sim",
		Short: "Simulate trucks against a gateway: demos, drills, load tests",
	})
	cmd.AddCommand(a.simFleetCmd(), a.simLoadCmd(), a.simAccessCmd(), a.simTMSCmd())
	return cmd
}

// simFlags are the flags `sim fleet` and `sim load` share: the state and
// operator to open the CA with, the gateway, the vehicles' state directory
// and names, and the JSON report.
type simFlags struct {
	st                       stateFlags
	op                       operatorFlag
	gateway, serverNm, state string
	prefix, jsonOut          string
	pprof                    string
}

// register adds the shared flags to cmd; who names the vehicles ("trucks"),
// prefix is --prefix's default.
func (s *simFlags) register(cmd *cobra.Command, who, prefix string) {
	s.st = caStateFlags()
	s.st.register(cmd.Flags())
	registerKEKFlag(cmd)
	s.op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&s.gateway, "gateway", "", "the gateway's vehicle listener, `HOST:PORT` or https://HOST:PORT (default: from DATA/serve.addrs)")
	fs.StringVar(&s.serverNm, "server-name", "", "the `NAME` the gateway's certificate carries, if not the address's host")
	fs.StringVar(&s.state, "state", "", "keep the "+who+"' credentials and frame counters in `DIR` (default: DATA/sim, or ./fw-sim)")
	fs.StringVar(&s.prefix, "prefix", prefix, "name the "+who+" `PREFIX`-00000, `PREFIX`-00001, ...")
	fs.StringVar(&s.jsonOut, "json", "", "also write the report as JSON to `FILE`")
	fs.StringVar(&s.pprof, "pprof", "", "serve Go runtime profiles of this process on loopback `HOST:PORT` (off by default)")
}

// simRun is what `sim fleet` and `sim load` start from.
type simRun struct {
	e *stateEnv
	// target is the gateway's vehicle listener and the fleet root.
	target sim.Target
	// pid is the gateway's process as serve wrote it, or 0.
	pid      int
	stateDir string
	// prov enrolls vehicles (caching their credentials in stateDir).
	prov sim.Provisioner
}

// openSim opens the CA, finds the gateway and sets up the provisioner,
// whose credentials stay valid for at least runFor and an hour. precheck,
// if set, sees the configuration first (before the CA is opened or the
// gateway is looked for): a run it refuses goes no further. The caller
// closes r.e.
func (a *app) openSim(cmd *cobra.Command, s *simFlags, runFor time.Duration, precheck func(config.Config) error) (*simRun, error) {
	e, err := a.openState(cmd, &s.st, false)
	if err != nil {
		return nil, err
	}
	if precheck != nil {
		if err := precheck(e.cfg); err != nil {
			e.close()
			return nil, err
		}
	}
	ca, err := a.openCA(cmd.Context(), e)
	if err != nil {
		e.close()
		return nil, err
	}
	by, err := s.op.actor(cmd.Context(), e)
	if err != nil {
		e.close()
		return nil, err
	}
	if s.pprof != "" {
		if err := startPprof(cmd.Context(), s.pprof, e.log); err != nil {
			e.close()
			return nil, err
		}
	}
	target, pid, err := simGateway(e.cfg, s.gateway, s.serverNm)
	if err != nil {
		e.close()
		return nil, err
	}
	target.CAPEM = certPEM(ca.Root())
	stateDir := simStateDir(e.cfg, s.state)
	prov := simProvisioner(ca, by, target, stateDir, runFor)
	return &simRun{e: e, target: target, pid: pid, stateDir: stateDir, prov: prov}, nil
}

// simProvisioner enrolls simulated vehicles at target through the
// gateway's public enrollment path, with join tokens ca mints as by, and
// caches their credentials in stateDir, valid for at least runFor and an
// hour. target.CAPEM must be set.
func simProvisioner(ca *pki.CA, by principal.Principal, target sim.Target, stateDir string, runFor time.Duration) sim.Provisioner {
	return &sim.CachedProvisioner{Dir: stateDir, RootPEM: target.CAPEM, MinValidity: runFor + time.Hour,
		Next: &sim.EnrollProvisioner{Tokens: sim.CAJoinTokens{CA: ca, TTL: simJoinTokenTTL, By: by},
			GatewayURL: target.URL, GatewayCAPEM: target.CAPEM}}
}

// simReport is a `sim` command's report.
type simReport interface {
	WriteTable(io.Writer) error
	WriteJSON(io.Writer) error
}

// writeReport prints r's table on stdout and, with --json, writes its JSON.
func (a *app) writeReport(r simReport, s *simFlags) error {
	return a.printReport(r, s.jsonOut, "", nil)
}

type simFleetFlags struct {
	simFlags
	vehicles                   int
	gatewayKey                 string
	gatewayCommandKey          string
	rejectCommands             []string
	duration, readyTimeout     time.Duration
	summaryEvery               time.Duration
	telemetryRate, connectRate float64
	blackoutFrac               float64
	blackoutAt, blackoutFor    time.Duration
	latency, jitter            time.Duration
	loss, linkFrac             float64
	flap, flapAt, flapFor      time.Duration
	flapFrac                   float64
	skew                       time.Duration
	skewFrac                   float64
	jumpFrac, speedFrac        float64
	sensorAt, sensorFor        time.Duration
	seed                       uint64
	check                      bool
}

func (a *app) simFleetCmd() *cobra.Command {
	var o simFleetFlags
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Drive N simulated trucks against a running gateway and report the SLA figures",
		Long: `Drive N simulated trucks, each a real agent (the public vehicle SDK) with its
own certificate and frame-signing key, against a running gateway; inject link
and sensor faults; print a live summary on stderr and, at the end, the SLA
figures on stdout.

Trucks are enrolled the way real ones are: a join token from the fleet CA
(like 'fifthwheel pki join-token'), then POST /v1/pki/enroll with a CSR and
the truck's Ed25519 frame key, which the gateway registers. Credentials are
kept in --state DIR (default DATA/sim) and reused by later runs while valid.

Finding the gateway: with --data DIR (as 'serve --dev --data DIR' leaves it)
the vehicle listener comes from DIR/serve.addrs, and the fleet CA and the
gateway's published frame keys (gateway-frame-keys.pem, every one pinned)
from the CA directory (pki.dir); --gateway and --gateway-key override. The
heartbeat interval and misses are the configuration's (heartbeat.*), as the
gateway's must be.

The scenario: trucks start at --connect-rate a second, each is resumed by the
gateway, and the scenario clock starts once every truck drives (or after
--ready-timeout); fault times (--*-at) count from then, and the run lasts
--duration more. Trucks enter the scenario at cruise speed (25 m/s), so every
stop is measured from it. SIGINT ends the scenario early; the report covers
what ran.

Faults, each on a fraction of the fleet chosen at random (--seed):
  blackout  a silent outage: nothing gets through, open connections notice
            nothing by themselves, new ones hang
  latency, jitter, loss
            every write is delayed by latency + [0, jitter] each way; a lost
            segment is retransmitted after 200 ms (doubling), as TCP does
  flap      the link goes down and up every D: each down resets the truck's
            connections (the gateway sees silence) and refuses new ones
  clock skew, GNSS position jump (~5.6 km), wheel/GNSS speed disagreement

The figures: vehicle side, from the trucks' agents (last answered heartbeat →
safe_state, blackout → stopping); gateway side, from the gateway's own events
in its store (comm_lost with last_heartbeat, deadline, detection_latency_ms;
resumes; plausibility findings), read through --data or --store. A comm_lost
for a truck whose link was not down is false.

Checks. Before any truck runs, a configured fault (a --*-fraction above 0)
entirely outside the scenario is refused (exit 2): one that selects no truck
(round(fraction × --vehicles) = 0) or starts at or after --duration. With
--check, so is a fault whose figures cannot be measured whole; without it
that is a warning. With the deadline S = heartbeat.interval × misses:
  blackout  lasts at least S + 1s (shorter ones the gateway need not
            declare), and --duration ≥ --blackout-at + max(--blackout-for
            + S + 1s, 15s): it ends, the gateway's comm_lost is due and
            counted, and a truck stopped by it has had its 15 s safe-state
            budget (at the defaults, 1s × 3: a blackout 20s in for 10s
            needs 35s)
  flap      completes one down period, and ends by --duration if
            --flap-for is set
  sensor    --sensor-fault-at + --sensor-fault-for ≤ --duration
With --duration 0 only the fractions are checked before the run.

After the run, --check exits 1, listing each reason, if an SLA row fails
(over its limit, or "no data" when a fault of its kind was configured and
it measured nothing: a blackout must yield a stop from cruise, a comm_lost
detection and a checked blackout; each sensor fault a finding of its kind
on a truck with it), if fewer trucks were driving when the scenario started
than expected (all but those skewed past ±5s), if a truck's AV stack ran a
command it had run before (a duplicate execution: exactly once is the
agent's promise), or if the scenario never started. A row whose kind of fault was not configured and that has no
samples is "n/a".`,
		Example: `  # 1,000 trucks against 'fifthwheel serve --dev --data ./fw-data';
  # 10 % black out 20 s into the scenario for 10 s
  fifthwheel sim fleet --vehicles 1000 --data ./fw-data

  # No blackout; 200 ms of jitter on every truck; JSON report
  fifthwheel sim fleet --vehicles 1000 --data ./fw-data --blackout-fraction 0 --jitter 200ms --json report.json

  # Flapping every 500 ms for a minute on 5 % of the fleet
  fifthwheel sim fleet --vehicles 200 --data ./fw-data --flap 500ms --flap-fraction 0.05 --flap-for 1m --duration 90s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.simFleet(cmd, &o) },
	}
	o.register(cmd, "trucks", sim.DefaultIDPrefix)
	fs := cmd.Flags()
	fs.IntVar(&o.vehicles, "vehicles", 100, "simulate `N` trucks")
	fs.StringVar(&o.gatewayKey, "gateway-key", "", "the gateway's published frame keys, PEM `FILE` (default: "+gwkey.PublicFile+" in the CA directory, DATA/pki)")
	fs.StringVar(&o.gatewayCommandKey, "gateway-command-key", "", "the gateway's published command keys, PEM `FILE` (default: "+gwkey.Command.PublicFile+" in the CA directory)")
	fs.StringSliceVar(&o.rejectCommands, "reject-commands", nil, "the trucks decline commands of these `TYPES` as infeasible (e.g. route_update); they accept the others")
	fs.DurationVar(&o.duration, "duration", time.Minute, "run the scenario for `D` once every truck drives (0: until SIGINT)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", sim.DefaultReadyTimeout, "start the scenario after `D` even if not every truck drives yet")
	fs.DurationVar(&o.summaryEvery, "summary-every", sim.DefaultSummaryEvery, "print a live summary every `D` (0: never)")
	fs.Float64Var(&o.telemetryRate, "telemetry-rate", sim.DefaultTelemetryRate, "telemetry frames per truck per second")
	fs.Float64Var(&o.connectRate, "connect-rate", sim.DefaultConnectRate, "start `N` trucks per second (enrollment and TLS handshakes come as a ramp)")
	fs.Float64Var(&o.blackoutFrac, "blackout-fraction", 0.1, "black out this `FRACTION` of the trucks (0: none)")
	fs.DurationVar(&o.blackoutAt, "blackout-at", 20*time.Second, "the blackout starts `D` into the scenario")
	fs.DurationVar(&o.blackoutFor, "blackout-for", 10*time.Second, "the blackout lasts `D`")
	fs.DurationVar(&o.latency, "latency", 0, "delay every write by `D` each way")
	fs.DurationVar(&o.jitter, "jitter", 0, "add up to `D` of random delay to every write, each way")
	fs.Float64Var(&o.loss, "loss", 0, "lose a write's segment with this `PROBABILITY` (retransmitted after an RTO)")
	fs.Float64Var(&o.linkFrac, "link-fraction", 1, "apply --latency, --jitter and --loss to this `FRACTION` of the trucks")
	fs.DurationVar(&o.flap, "flap", 0, "make links flap: down `D`, up D, ... (0: off)")
	fs.Float64Var(&o.flapFrac, "flap-fraction", 0.1, "flap this `FRACTION` of the trucks")
	fs.DurationVar(&o.flapAt, "flap-at", 0, "flapping starts `D` into the scenario")
	fs.DurationVar(&o.flapFor, "flap-for", 0, "flapping lasts `D` (0: to the end)")
	fs.DurationVar(&o.skew, "clock-skew", 0, "offset the clocks of some trucks by `D` (beyond ±5s the gateway refuses them)")
	fs.Float64Var(&o.skewFrac, "clock-skew-fraction", 0.1, "skew the clocks of this `FRACTION` of the trucks")
	fs.Float64Var(&o.jumpFrac, "gnss-jump-fraction", 0, "make the GNSS position of this `FRACTION` of the trucks jump ~5.6 km")
	fs.Float64Var(&o.speedFrac, "speed-fault-fraction", 0, "make the wheel speed of this `FRACTION` of the trucks read 60 % of the GNSS speed")
	fs.DurationVar(&o.sensorAt, "sensor-fault-at", 10*time.Second, "sensor faults start `D` into the scenario")
	fs.DurationVar(&o.sensorFor, "sensor-fault-for", 10*time.Second, "sensor faults last `D`")
	fs.Uint64Var(&o.seed, "seed", 1, "choose faulted trucks, routes and noise from `SEED`")
	fs.BoolVar(&o.check, "check", false, "exit 1 if an SLA row fails or has no data for a configured fault, or not every truck drove; refuse faults the scenario cannot show (see Checks)")
	return cmd
}

// faultGroups turns the fault flags into the runner's groups.
func (o *simFleetFlags) faultGroups() []sim.FaultGroup {
	var gs []sim.FaultGroup
	add := func(name string, frac float64, f sim.Faults) {
		if frac > 0 {
			gs = append(gs, sim.FaultGroup{Name: name, Fraction: frac, Faults: f})
		}
	}
	if o.blackoutFor > 0 {
		add("blackout", o.blackoutFrac, sim.Faults{Blackout: sim.Window{At: o.blackoutAt, For: o.blackoutFor}})
	}
	if o.latency > 0 || o.jitter > 0 || o.loss > 0 {
		add("link", o.linkFrac, sim.Faults{Latency: o.latency, Jitter: o.jitter, Loss: o.loss})
	}
	if o.flap > 0 {
		add("flap", o.flapFrac, sim.Faults{FlapEvery: o.flap, FlapWindow: sim.Window{At: o.flapAt, For: o.flapFor}})
	}
	if o.skew != 0 {
		add("clock", o.skewFrac, sim.Faults{ClockSkew: o.skew})
	}
	sensor := sim.Window{At: o.sensorAt, For: o.sensorFor}
	if sensor.For > 0 {
		add("gnss-jump", o.jumpFrac, sim.Faults{GNSSJump: sensor})
		add("speed", o.speedFrac, sim.Faults{SpeedDisagreement: sensor})
	}
	return gs
}

func (a *app) simFleet(cmd *cobra.Command, o *simFleetFlags) error {
	ctx := cmd.Context()
	r, err := a.openSim(cmd, &o.simFlags, o.duration+o.readyTimeout, func(cfg config.Config) error {
		return a.checkScenario(cmd, o, cfg)
	})
	if err != nil {
		return err
	}
	e, target, stateDir := r.e, r.target, r.stateDir
	defer e.close()
	if target.FrameKeys, err = gatewayFrameKeys(e.cfg, o.gatewayKey); err != nil {
		return err
	}
	if target.CommandKeys, err = gatewayCommandKeys(e.cfg, o.gatewayCommandKey); err != nil {
		return err
	}
	rule := sim.CommandRule{}
	for _, t := range o.rejectCommands {
		rule.Reject = append(rule.Reject, frame.CommandType(t))
	}
	fleet, err := sim.New(sim.Config{
		Commands: rule,
		Common: sim.Common{Vehicles: o.vehicles, IDPrefix: o.prefix, Gateway: target, StateDir: stateDir,
			SummaryEvery: o.summaryEvery},
		HeartbeatInterval: e.cfg.Heartbeat.Interval, Misses: e.cfg.Heartbeat.Misses,
		TelemetryRate: o.telemetryRate, ConnectRate: o.connectRate, ReadyTimeout: o.readyTimeout,
		Duration: o.duration, Faults: o.faultGroups(), Seed: o.seed,
	}, sim.Deps{Provisioner: r.prov, Events: e.st, EventsSource: storeDesc(e.cfg), Log: e.log,
		OnSummary: func(s sim.Summary) { fmt.Fprintf(a.stderr, "fifthwheel sim: %s\n", s) }})
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel sim fleet --help'"}
	}

	// The first SIGINT/SIGTERM ends the scenario (the report is still
	// printed); a second one ends the process.
	rctx, stop := a.simSignals(ctx, "the trucks")
	defer stop()
	fmt.Fprintf(a.stderr, "fifthwheel sim: %d trucks against %s (state in %s, gateway events from %s)\n",
		o.vehicles, target.URL, stateDir, storeDesc(e.cfg))
	report, err := fleet.Run(rctx)
	if err != nil {
		return err
	}
	if err := a.writeReport(report, &o.simFlags); err != nil {
		return err
	}
	if !o.check {
		return nil
	}
	fails := report.CheckFailures()
	for _, f := range fails {
		fmt.Fprintf(a.stderr, "fifthwheel sim: check failed: %s\n", f)
	}
	if len(fails) > 0 {
		return fmt.Errorf("sim fleet --check: %d check(s) failed (see above and the report)", len(fails))
	}
	return nil
}

// faultFlags names, per fault group, the flags that set each field a
// sim.ScenarioProblem points at.
var faultFlags = map[string]map[string]string{
	"blackout":  {"fraction": "blackout-fraction", "at": "blackout-at", "for": "blackout-for"},
	"link":      {"fraction": "link-fraction"},
	"flap":      {"fraction": "flap-fraction", "at": "flap-at", "for": "flap-for", "every": "flap"},
	"clock":     {"fraction": "clock-skew-fraction"},
	"gnss-jump": {"fraction": "gnss-jump-fraction", "at": "sensor-fault-at", "for": "sensor-fault-for"},
	"speed":     {"fraction": "speed-fault-fraction", "at": "sensor-fault-at", "for": "sensor-fault-for"},
}

// checkScenario refuses, before any truck runs, a configured fault the
// scenario cannot show: always one entirely outside it (it never happens:
// the report would describe a fault that did not occur), and with --check
// one whose figures cannot be measured whole (without --check that is a
// warning). cfg gives the heartbeat the deadline is made of.
func (a *app) checkScenario(cmd *cobra.Command, o *simFleetFlags, cfg config.Config) error {
	sc := sim.Config{Common: sim.Common{Vehicles: o.vehicles}, HeartbeatInterval: cfg.Heartbeat.Interval,
		Misses: cfg.Heartbeat.Misses, Duration: o.duration, Faults: o.faultGroups()}
	flagVal := func(name string) string {
		if f := cmd.Flags().Lookup(name); f != nil {
			return "--" + name + " " + f.Value.String()
		}
		return "--" + name
	}
	var refuse, warn []string
	for _, p := range sc.ScenarioProblems() {
		flags := flagVal("duration")
		if name := faultFlags[p.Group][p.Field]; name != "" {
			flags = flagVal(name)
			if p.Field == "at" {
				flags += ", " + flagVal("duration")
			}
		}
		line := flags + ": " + p.Msg
		if p.Outside || o.check {
			refuse = append(refuse, line)
		} else {
			warn = append(warn, line)
		}
	}
	for _, w := range warn {
		fmt.Fprintf(a.stderr, "fifthwheel sim: warning: %s (--check refuses this)\n", w)
	}
	if len(refuse) == 0 {
		return nil
	}
	return &usageError{err: fmt.Errorf("sim fleet: the scenario cannot show the configured faults:\n  %s", strings.Join(refuse, "\n  ")),
		hint: "see 'fifthwheel sim fleet --help' (Checks); --*-fraction 0 turns a fault off"}
}

// simStateDir is where the simulator keeps its vehicles' credentials and
// frame counters: --state, else DATA/sim, else ./fw-sim. `sim fleet` and
// `sim load` share it, so a vehicle enrolled by one works for the other.
func simStateDir(cfg config.Config, flag string) string {
	switch {
	case flag != "":
		return flag
	case cfg.DataDir != "":
		return filepath.Join(cfg.DataDir, "sim")
	}
	return "fw-sim"
}

// simSignals ends ctx's child on the first SIGINT/SIGTERM (the report is
// still printed); a second one ends the process.
func (a *app) simSignals(ctx context.Context, what string) (context.Context, func()) {
	rctx, cancel := context.WithCancel(ctx)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sigc:
			signal.Stop(sigc)
			fmt.Fprintf(a.stderr, "fifthwheel sim: stopping %s; the report follows (again to abort)\n", what)
			cancel()
		case <-rctx.Done():
		}
	}()
	return rctx, func() { signal.Stop(sigc); cancel() }
}

// writeJSONReport writes a report's JSON form to path.
// printReport prints a sim driver's report as a table on stdout and, if
// jsonOut is set, writes its JSON there; then it fails with the report's
// failures (what, then the first few), if any.
func (a *app) printReport(r simReport, jsonOut, what string, failures []string) error {
	if err := r.WriteTable(a.stdout); err != nil {
		return err
	}
	if jsonOut != "" {
		if err := writeJSONReport(jsonOut, r.WriteJSON); err != nil {
			return err
		}
	}
	if len(failures) > 0 {
		return errors.New(what + ": " + strings.Join(failures[:min(5, len(failures))], "; "))
	}
	return nil
}

func writeJSONReport(path string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the JSON report: %v", err)
	}
	return nil
}

// simGateway finds the gateway's vehicle listener, from addr (HOST:PORT or
// https://HOST:PORT) or else DATA/serve.addrs, and the process id serve
// wrote there (0 if none).
func simGateway(cfg config.Config, addr, serverName string) (sim.Target, int, error) {
	t := sim.Target{ServerName: serverName}
	pid := 0
	if cfg.DataDir != "" {
		if b, err := os.ReadFile(filepath.Join(cfg.DataDir, addrsFile)); err == nil {
			var sa serveAddrs
			if json.Unmarshal(b, &sa) == nil {
				pid = sa.PID
				if addr == "" {
					addr = sa.Vehicle
				}
			}
		}
	}
	if addr == "" {
		if cfg.DataDir == "" {
			return t, 0, &usageError{err: errors.New("no gateway address: pass --gateway HOST:PORT, or --data DIR of a running 'fifthwheel serve'")}
		}
		path := filepath.Join(cfg.DataDir, addrsFile)
		if _, err := os.Stat(path); err != nil {
			return t, 0, &usageError{err: fmt.Errorf("no gateway address: %s is missing (is 'fifthwheel serve --data %s' running?); or pass --gateway HOST:PORT",
				path, cfg.DataDir)}
		}
		return t, 0, fmt.Errorf("%s does not name the vehicle listener", path)
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	t.URL = strings.TrimSuffix(addr, "/")
	return t, pid, nil
}

// gatewayCommandKeys reads the gateway's published command keys: keyFile,
// else the CA directory's, where serve publishes them. Without keyFile and
// without the published file (a gateway of a version without commands),
// the trucks pin none and refuse every command.
func gatewayCommandKeys(cfg config.Config, keyFile string) ([]agent.GatewayCommandKey, error) {
	if keyFile == "" {
		if cfg.PKIDir() == "" {
			return nil, nil
		}
		keyFile = filepath.Join(cfg.PKIDir(), gwkey.Command.PublicFile)
		if _, err := os.Stat(keyFile); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	pemBytes, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &usageError{err: fmt.Errorf("gateway command key file %s does not exist", keyFile)}
	} else if err != nil {
		return nil, err
	}
	keys, err := agent.ParseGatewayCommandKeys(pemBytes)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("gateway command key file %s: %v", keyFile, err)}
	}
	return keys, nil
}

// gatewayFrameKeys reads the gateway's published frame keys: keyFile, else
// the CA directory's, where serve publishes them.
func gatewayFrameKeys(cfg config.Config, keyFile string) ([]agent.GatewayFrameKey, error) {
	if keyFile == "" {
		if cfg.PKIDir() == "" {
			return nil, &usageError{err: fmt.Errorf("no gateway frame keys: pass --gateway-key FILE (the gateway's %s)", gwkey.PublicFile)}
		}
		// serve publishes them in the CA directory (shared by replicas).
		keyFile = filepath.Join(cfg.PKIDir(), gwkey.PublicFile)
		if _, err := os.Stat(keyFile); err != nil {
			return nil, &usageError{err: fmt.Errorf("no gateway frame keys in %s (serve writes %s there when it starts); or pass --gateway-key FILE",
				cfg.PKIDir(), gwkey.PublicFile)}
		}
	}
	pemBytes, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &usageError{err: fmt.Errorf("gateway frame key file %s does not exist", keyFile)}
	} else if err != nil {
		return nil, err
	}
	keys, err := agent.ParseGatewayFrameKeys(pemBytes)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("gateway frame key file %s: %v", keyFile, err)}
	}
	return keys, nil
}
