package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

type simLoadFlags struct {
	simFlags
	vehicles, batch, concurrency, gatewayPID int
	replayEvery                              int
	duration, warmup, calibrate              time.Duration
	summaryEvery                             time.Duration
	check                                    bool
}

func (a *app) simLoadCmd() *cobra.Command {
	var o simLoadFlags
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Measure sustained durable ingest: post signed telemetry batches to a running gateway",
		Long: `Post signed telemetry batches from N enrolled vehicles to a running gateway's
batch path (POST /v1/vehicle/telemetry), each vehicle over its own mutual-TLS
HTTP/2 connection, for --duration, and report what the gateway durably
accepted. Run it as its own process beside 'fifthwheel serve'.

Every frame is new (a fresh seq from the vehicle's frame counter, ts = now),
so the gateway's database grows as it would under a fleet. Each batch is
signed by its sender right before it is posted, so no frame waits signed;
that signing is this process's CPU, reported apart from the gateway's.

Vehicles are enrolled like 'sim fleet' enrolls its trucks (a join token from
the fleet CA, then POST /v1/pki/enroll) and kept in --state DIR (default
DATA/sim), shared with 'sim fleet': with --prefix sim the load uses the
fleet's trucks (not while 'sim fleet' runs: one vehicle's frame counter
serves one process at a time).

Before the load it measures, in this process, the one-core Ed25519 verify
rate (crypto/ed25519, one goroutine, --calibrate): the ceiling the accepted
rate is compared with. At the end it prints accepted frames/s over the run
minus --warmup, its ratio to that ceiling, p50/p99/max batch latency,
rejected frames by reason code, failed requests by HTTP status and problem
code or transport error (429s included, never hidden), the gateway's CPU in
cores (from /proc/PID/stat: --gateway-pid, else the pid serve writes to
DATA/serve.addrs), this process's CPU, and, with --data on SQLite, how much
the database grew. A 429 holds its vehicle back for its Retry-After. A live
line goes to stderr every --summary-every.

The gateway's per-vehicle rate limit (telemetry.rate_per_second, default 200
frames/s, burst 512) caps each vehicle: to measure the gateway rather than the
limit, start the gateway under test with the limit raised, e.g.
  FIFTHWHEEL_TELEMETRY_RATE_PER_SECOND=100000 FIFTHWHEEL_TELEMETRY_BURST=100000 \
    fifthwheel serve --dev --data /tmp/load-data
or use enough vehicles that N × 200 frames/s exceeds what the gateway can
store.

With --replay-every N, each vehicle also sends one replay after every N
frames the gateway accepted from it: a frame with the (epoch, seq) of an
accepted one and other bytes, validly signed, in a POST of its own. The
gateway must refuse each with replay and store its security event, which the
detection engine turns into a finding (the load the detection benchmark
needs). Replays are counted apart from the frames: sent, refused replay, and
any other outcome. Every replay is evaluated by the detection engine, but the
shipped frame-replay rule fires once per vehicle and 10-minute window, so
only a vehicle's first replay in a window makes a finding.

With --check, exit 1 if a request failed for a reason other than 429, a frame
was rejected, the counts do not add up, nothing was accepted, or a replay was
answered other than refused replay (or a 429).`,
		Example: `  # The gateway under test, with the per-vehicle limit out of the way
  FIFTHWHEEL_TELEMETRY_RATE_PER_SECOND=100000 FIFTHWHEEL_TELEMETRY_BURST=100000 \
    fifthwheel serve --dev --data /tmp/load-data &

  # 20 vehicles, 64-frame batches, 60 s on the growing database
  fifthwheel sim load --vehicles 20 --duration 60s --data /tmp/load-data --json load.json

  # The same with one replay per 100 accepted frames of each vehicle
  fifthwheel sim load --vehicles 20 --duration 60s --data /tmp/load-data --replay-every 100 --check`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.simLoad(cmd, &o) },
	}
	o.register(cmd, "vehicles", sim.DefaultLoadPrefix)
	fs := cmd.Flags()
	fs.IntVar(&o.vehicles, "vehicles", 20, "post from `N` vehicles, one connection each")
	fs.DurationVar(&o.duration, "duration", time.Minute, "post for `D`, warm-up included")
	fs.DurationVar(&o.warmup, "warmup", sim.DefaultLoadWarmup, "leave the first `D` out of the figures")
	fs.IntVar(&o.batch, "batch", sim.DefaultLoadBatch, fmt.Sprintf("`N` frames per POST (1 to %d)", sim.MaxLoadBatch))
	fs.IntVar(&o.concurrency, "concurrency", 0, "at most `C` POSTs in flight (default: one per vehicle)")
	fs.IntVar(&o.gatewayPID, "gateway-pid", 0, "read the gateway's CPU time of process `PID` (default: the pid in DATA/serve.addrs)")
	fs.DurationVar(&o.calibrate, "calibrate", sim.DefaultCalibrateFor, "measure the one-core verify rate for `D` before the load")
	fs.DurationVar(&o.summaryEvery, "summary-every", sim.DefaultSummaryEvery, "print a live line every `D` (0: never)")
	fs.IntVar(&o.replayEvery, "replay-every", 0, "each vehicle sends one replay after every `N` accepted frames (0: none)")
	fs.BoolVar(&o.check, "check", false, "exit 1 if a request failed other than with 429, a frame was rejected, nothing was accepted, or a replay was not refused replay")
	return cmd
}

func (a *app) simLoad(cmd *cobra.Command, o *simLoadFlags) error {
	r, err := a.openSim(cmd, &o.simFlags, o.duration, nil)
	if err != nil {
		return err
	}
	e, target, pid, stateDir := r.e, r.target, r.pid, r.stateDir
	defer e.close()
	if o.gatewayPID != 0 {
		pid = o.gatewayPID
	}
	dbPath := ""
	if e.cfg.StoreURL == "" && e.cfg.DataDir != "" {
		dbPath = filepath.Join(e.cfg.DataDir, store.DBFileName)
	}
	summaryEvery := o.summaryEvery
	if summaryEvery == 0 {
		summaryEvery = -1 // never
	}
	load, err := sim.NewLoad(sim.LoadConfig{
		Common: sim.Common{Vehicles: o.vehicles, IDPrefix: o.prefix, Gateway: target, StateDir: stateDir,
			SummaryEvery: summaryEvery},
		Duration: o.duration, Warmup: o.warmup, Batch: o.batch, Concurrency: o.concurrency, CalibrateFor: o.calibrate,
		GatewayPID: pid, DBPath: dbPath, ReplayEvery: o.replayEvery,
	}, sim.LoadDeps{Provisioner: r.prov, Log: e.log,
		OnSummary: func(s sim.LoadSummary) { fmt.Fprintf(a.stderr, "fifthwheel sim load: %s\n", s) }})
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel sim load --help'"}
	}
	rctx, stop := a.simSignals(cmd.Context(), "the load")
	defer stop()
	fmt.Fprintf(a.stderr, "fifthwheel sim load: %d vehicles against %s for %s (state in %s)\n", o.vehicles, target.URL, o.duration, stateDir)
	report, err := load.Run(rctx)
	if err != nil {
		return err
	}
	if err := a.writeReport(report, &o.simFlags); err != nil {
		return err
	}
	if fails := report.CheckFailures(); o.check && len(fails) > 0 {
		return errors.New("the load check failed: " + strings.Join(fails, "; "))
	}
	return nil
}
