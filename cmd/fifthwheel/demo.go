package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// The demo's defaults: a fleet small enough for a 2-core laptop, a
// scenario just long enough for its blackout to be measured whole (see
// demoFaults), and the reports where the user ran the command, so they
// outlive the temporary gateway.
const (
	demoVehicles    = 20
	demoDuration    = 18 * time.Second
	demoReportDir   = "fifthwheel-demo"
	demoFleetReport = "fleet-report.json"
	demoPrefix      = "demo"
	// The blackout starts demoBlackoutAt into the scenario and lasts
	// demoBlackoutFor: longer than the default comm-loss deadline (1 s ×
	// 3 misses) plus a second, so the gateway must declare it.
	demoBlackoutAt  = 2 * time.Second
	demoBlackoutFor = 5 * time.Second
	// demoBlackoutFraction of the fleet blacks out (at least one truck).
	demoBlackoutFraction = 0.1
)

// demoFleetHook, when set (by tests only), alters the fleet's
// collaborators before it runs: the proof that a failed fleet check fails
// the demo.
var demoFleetHook func(*sim.Deps)

// demoScenarioHook, when set (by tests only), alters the fleet's
// configuration before it runs: the proof that a hazmat load the trucks
// decline fails the demo.
var demoScenarioHook func(*sim.Config)

type demoFlags struct {
	vehicles int
	duration time.Duration
	blackout bool
	hazmat   bool
	only     []string
	report   string
	keep     bool
}

func (a *app) demoCmd() *cobra.Command {
	var o demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See the whole system work: a gateway, a simulated fleet and the drill catalogue, with reports",
		Long: `Run the whole system on this machine with nothing installed but Go:

  1. start a gateway ('serve --dev') on the embedded store in a temporary
     directory; dev mode creates the fleet CA;
  2. enroll a simulated fleet (--vehicles trucks, each a real agent on the
     public vehicle SDK) through the gateway's enrollment path and drive it
     for --duration; with --blackout (the default) about 10 % of the trucks
     (at least one) lose their link 2 s into the scenario for 5 s, so the
     gateway must declare comm loss and the trucks must stop on their own;
  3. run the security drill catalogue ('fifthwheel drill') against the same
     gateway while the fleet drives;
  4. meanwhile (with --hazmat, the default), once every truck is in
     session, a simulated TMS (as 'sim tms') tenders a hazmat load and dispatches it to the fleet's last
     truck: the command waits in pending_approval until two simulated
     approvers approve it, then the truck executes and accepts it; the
     demo prints the gateway's record of it (each transition and approval,
     with its time and actor);
  5. show the incident response: the detection drills' replay opened an
     incident within 1 s and the containment drill revoked its truck from
     it; the demo prints that incident through the CLI ('incidents list',
     'incidents show': clocks, finding, runbook, containment) and where its
     event went: a SIEM webhook receiver on loopback (signed batch), the
     OCSF events file and a NATS JetStream subject (an embedded NATS server
     on loopback, so nothing needs installing);
  6. print the fleet's SLA figures and the drill outcomes, and write the
     drill reports (drill-report.json, drill-report.html) and the fleet's
     (fleet-report.json, as 'sim fleet --json') into --report DIR, by
     default ./fifthwheel-demo, so they outlive the temporary directory.

Progress: one line per finished drill, with a count ("drill [7/36] ..."),
and the fleet's states every 2 s (trucks driving, stopping and in
safe_state, the comm_lost declarations the gateway made, the telemetry it
acknowledged). On a terminal the fleet's status line is redrawn in place;
when stdout is not a terminal (a pipe, a file, CI) every status is one more
plain line. The exit status is 1 if a drill failed or the fleet's SLA
check failed (as 'sim fleet --check') or the hazmat load was not
accepted after its two approvals or the contained incident did not reach
every SIEM sink. The temporary directory is removed at
the end; with --keep the gateway keeps running after the summary, with how
to reach it, until Ctrl-C.`,
		Example: `  go run ./cmd/fifthwheel demo
  fifthwheel demo --vehicles 50 --report ./demo-out
  fifthwheel demo --keep        # then try: fifthwheel vehicle list --data DIR`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.demo(cmd, &o) },
	}
	fs := cmd.Flags()
	fs.IntVar(&o.vehicles, "vehicles", demoVehicles, "simulate `N` trucks")
	fs.DurationVar(&o.duration, "duration", demoDuration, "drive the fleet for `D` once every truck drives")
	fs.BoolVar(&o.blackout, "blackout", true, "black out part of the fleet during the scenario (needs --duration of at least 17s)")
	fs.BoolVar(&o.hazmat, "hazmat", true, "tender a hazmat load that waits for two approvals (needs --duration of at least 10s)")
	fs.StringSliceVar(&o.only, "only", nil, "run only the drill `NAME` (repeatable, or a comma-separated list)")
	fs.StringVar(&o.report, "report", demoReportDir, "write drill-report.json, drill-report.html and fleet-report.json into `DIR`")
	fs.BoolVar(&o.keep, "keep", false, "leave the gateway running after the summary, until Ctrl-C")
	return cmd
}

// demoFaults is the fleet's fault: a blackout on a tenth of n trucks, at
// least one.
func demoFaults(n int, on bool) []sim.FaultGroup {
	if !on || n <= 0 {
		return nil
	}
	frac := max(demoBlackoutFraction, 1/float64(n))
	return []sim.FaultGroup{{Name: "blackout", Fraction: frac,
		Faults: sim.Faults{Blackout: sim.Window{At: demoBlackoutAt, For: demoBlackoutFor}}}}
}

func (a *app) demo(cmd *cobra.Command, o *demoFlags) error {
	drills, err := drill.Select(drill.Catalogue(), o.only)
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel drill --help' for the catalogue"}
	}
	if o.vehicles <= 0 || o.duration <= 0 {
		return &usageError{err: errors.New("--vehicles and --duration must be positive")}
	}
	if o.report == "" {
		return &usageError{err: errors.New("--report must name a directory")}
	}
	if o.hazmat && o.duration < demoHazmatMinDuration {
		return &usageError{err: fmt.Errorf("demo: a %s scenario cannot carry the hazmat load (three TMS clients, tender, dispatch, two approvals, delivery and the truck's answer before the fleet stops)", o.duration),
			hint: fmt.Sprintf("lengthen --duration to at least %s, or pass --hazmat=false", demoHazmatMinDuration)}
	}
	// Ctrl-C (or SIGTERM) ends the run, or the --keep wait, through ctx:
	// the deferred stops then remove the temporary directory.
	ctx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	out := newDemoView(a.stdout, len(drills))
	started := time.Now()
	out.printf("starting a gateway (serve --dev) in a temporary directory\n")
	ds, err := startDevSIEM(true)
	if err != nil {
		return err
	}
	defer ds.stop()
	gw, err := a.startDevGateway(ctx, "demo", ds.env...)
	if err != nil {
		return err
	}
	defer gw.stop()
	e, ca, by, err := gw.a.openCAAs(cmd, &stateFlags{}, &operatorFlag{})
	if err != nil {
		return err
	}
	defer e.close()
	url := "https://" + gw.addrs.Vehicle
	out.printf("gateway ready: vehicles %s, TMS https://%s, ops http://%s; data in %s\n", url, gw.addrs.TMS, gw.addrs.Ops, gw.dir)

	// The fleet, as `sim fleet` builds it, against the same gateway.
	target := sim.Target{URL: url, CAPEM: certPEM(ca.Root())}
	if target.FrameKeys, err = gatewayFrameKeys(e.cfg, ""); err != nil {
		return err
	}
	if target.CommandKeys, err = gatewayCommandKeys(e.cfg, ""); err != nil {
		return err
	}
	stateDir := filepath.Join(gw.dir, "sim")
	scfg := sim.Config{
		Common: sim.Common{Vehicles: o.vehicles, IDPrefix: demoPrefix, Gateway: target, StateDir: stateDir,
			SummaryEvery: demoStatusEvery},
		HeartbeatInterval: e.cfg.Heartbeat.Interval, Misses: e.cfg.Heartbeat.Misses,
		Duration: o.duration, Faults: demoFaults(o.vehicles, o.blackout), Seed: 1,
	}
	if ps := scfg.ScenarioProblems(); len(ps) > 0 {
		var msgs []string
		for _, p := range ps {
			msgs = append(msgs, p.Msg)
		}
		return &usageError{err: fmt.Errorf("demo: the fleet scenario cannot show its blackout: %s", strings.Join(msgs, "; ")),
			hint: "lengthen --duration, or pass --blackout=false"}
	}
	if demoScenarioHook != nil {
		demoScenarioHook(&scfg)
	}
	hazmat := newDemoHazmat(o.vehicles)
	deps := sim.Deps{Provisioner: simProvisioner(ca, by, target, stateDir, o.duration),
		Events: e.st, EventsSource: storeDesc(e.cfg), Log: e.log,
		OnSummary: func(s sim.Summary) { out.fleet(s); hazmat.summary(s) }}
	if demoFleetHook != nil {
		demoFleetHook(&deps)
	}
	fleet, err := sim.New(scfg, deps)
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel demo --help'"}
	}
	dt, err := drillTarget(e, ca, by, url, "https://"+gw.addrs.TMS, ds.receiver)
	if err != nil {
		return err
	}
	dt.ExportBundle = gw.a.bundleExporter(e, by)
	if drillTargetHook != nil {
		drillTargetHook(dt)
	}

	// The fleet drives while the drills attack the same gateway.
	out.printf("enrolling and driving %d trucks for %s; running %d drills meanwhile\n", o.vehicles, o.duration, len(drills))
	type fleetDone struct {
		rep *sim.Report
		err error
	}
	fc := make(chan fleetDone, 1)
	fleetEnded := make(chan struct{})
	go func() {
		rep, err := fleet.Run(ctx)
		close(fleetEnded)
		fc <- fleetDone{rep, err}
	}()
	// The hazmat load, to the fleet's last truck, once every truck is in
	// session.
	hc := make(chan demoHazmatResult, 1)
	if o.hazmat {
		go func() {
			tms := sim.Target{URL: "https://" + gw.addrs.TMS, CAPEM: target.CAPEM}
			prov := &tmsProvisioner{caAccessProvisioner{e: e, ca: ca, by: by, lifetime: o.duration + time.Hour}}
			hc <- hazmat.run(ctx, e, prov, tms, fmt.Sprintf("%s-%05d", demoPrefix, o.vehicles-1), fleetEnded, out)
		}()
	} else {
		hc <- demoHazmatResult{skipped: true, detail: "not run (--hazmat=false)"}
	}
	res := drill.Run(ctx, dt, drills, drill.Config{Progress: out.drill})
	drep := drill.NewReport("in-process gateway in a temporary directory (fifthwheel demo, "+
		fmt.Sprint(o.vehicles)+" trucks driving)", started, time.Now(), res)
	out.printf("drills done; waiting for the fleet's scenario to end\n")
	fd := <-fc
	hres := <-hc
	out.endStatus()
	if fd.err != nil {
		return fmt.Errorf("the fleet: %w", fd.err)
	}
	// The fleet's SLA figures go into the drill report too: one page for
	// the auditor.
	drep.Fleet = drill.FleetFrom(fd.rep)
	jp, hp, err := writeDrillReports(drep, o.report)
	if err != nil {
		return err
	}
	fp := filepath.Join(o.report, demoFleetReport)
	if err := writeJSONReport(fp, fd.rep.WriteJSON); err != nil {
		return err
	}
	ires := a.demoIncident(ctx, out, gw, e, ds, drep)
	fails := a.demoSummary(out, fd.rep, drep, hres, ires, demoPaths{drillJSON: jp, drillHTML: hp, fleetJSON: fp}, time.Since(started))
	if o.keep && ctx.Err() == nil {
		a.demoKeep(ctx, out, gw)
	}
	if len(fails) > 0 {
		return fmt.Errorf("demo failed: %s", strings.Join(fails, "; "))
	}
	return nil
}

// demoPaths are the reports the demo wrote.
type demoPaths struct{ drillJSON, drillHTML, fleetJSON string }

// demoSummary prints the fleet's SLA figures, the drill outcomes and the
// report paths, and returns what failed.
func (a *app) demoSummary(out *demoView, frep *sim.Report, drep *drill.Report, haz demoHazmatResult, inc demoIncidentResult, p demoPaths, took time.Duration) []string {
	out.lock(func(w io.Writer) {
		fmt.Fprintln(w, "\n== fleet ==")
		if err := frep.WriteTable(w); err != nil {
			fmt.Fprintf(w, "(the fleet table: %v)\n", err)
		}
		fmt.Fprintln(w, "\n== drills ==")
		if err := drep.WriteTable(w); err != nil {
			fmt.Fprintf(w, "(the drill table: %v)\n", err)
		}
	})
	var fails []string
	ffails := frep.CheckFailures()
	for _, f := range ffails {
		out.printf("fleet check failed: %s\n", f)
	}
	if len(ffails) > 0 {
		fails = append(fails, fmt.Sprintf("%d fleet SLA check(s) failed", len(ffails)))
	}
	if drep.Failed() {
		fails = append(fails, fmt.Sprintf("%d drill(s) failed", drep.Summary.Fail))
	}
	if !haz.ok && !haz.skipped {
		fails = append(fails, "the hazmat load failed")
	}
	if !inc.ok && !inc.skipped {
		fails = append(fails, "the incident response failed: "+inc.detail)
	}
	verdict := map[bool]string{true: "PASS", false: "FAIL"}
	out.printf("\n== summary (%s) ==\n", took.Round(time.Second))
	out.printf("fleet SLA check   %s\n", verdict[len(ffails) == 0])
	if haz.skipped {
		out.printf("hazmat load       %s\n", haz.detail)
	} else {
		out.printf("hazmat load       %s: %s\n", verdict[haz.ok], haz.detail)
	}
	if inc.skipped {
		out.printf("incident response %s\n", inc.detail)
	} else {
		out.printf("incident response %s: %s\n", verdict[inc.ok], inc.detail)
	}
	out.printf("drills            %s: %d passed, %d failed, %d not available\n", verdict[!drep.Failed()],
		drep.Summary.Pass, drep.Summary.Fail, drep.Summary.NotAvailable)
	out.printf("drill report      %s\n", p.drillHTML)
	out.printf("drill report JSON %s\n", p.drillJSON)
	out.printf("fleet report JSON %s\n", p.fleetJSON)
	return fails
}

// demoKeep prints how to reach the demo's gateway and waits for ctx's
// end (Ctrl-C).
func (a *app) demoKeep(ctx context.Context, out *demoView, gw *inprocGateway) {
	out.printf(`
The gateway keeps running (Ctrl-C stops it and removes %[1]s):
  vehicle listener  https://%[2]s  (mutual TLS, fleet CA in %[1]s/pki)
  TMS listener      https://%[3]s  (mutual TLS: TMS clients and operators)
  ops               http://%[4]s  (try: curl http://%[4]s/readyz)
  data directory    %[1]s
  operator          %[1]s/%[5]s  (the operator credential the CLI acts as with --data)
The operator credential gets an access token over mutual TLS (bound to its
certificate, RFC 8705: useless without the key), then calls the TMS API with it:
  curl --cacert %[1]s/%[5]s/%[6]s --cert %[1]s/%[5]s/%[7]s --key %[1]s/%[5]s/%[8]s -d grant_type=client_credentials https://%[3]s/oauth2/token
  curl --cacert %[1]s/%[5]s/%[6]s --cert %[1]s/%[5]s/%[7]s --key %[1]s/%[5]s/%[8]s -H "Authorization: Bearer $TOKEN" https://%[3]s/v1/vehicles
The operator CLI works on its data directory:
  fifthwheel vehicle list --data %[1]s
  fifthwheel pki list --data %[1]s
  fifthwheel sim fleet --vehicles 5 --data %[1]s --blackout-fraction 0 --duration 10s
  fifthwheel drill --data %[1]s --only telemetry-replay
`, gw.dir, gw.addrs.Vehicle, gw.addrs.TMS, gw.addrs.Ops, operatorDir,
		pki.CredentialCAFile, pki.CredentialCertFile, pki.CredentialKeyFile)
	<-ctx.Done()
	out.printf("stopping the gateway\n")
}

// writeDrillReports writes rep's JSON and HTML reports into dir, creating
// it.
func writeDrillReports(rep *drill.Report, dir string) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	return rep.WriteFiles(dir)
}
