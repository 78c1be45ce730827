package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

type simTMSFlags struct {
	st                                stateFlags
	op                                operatorFlag
	gateway, serverNm                 string
	prefix, vPrefix                   string
	carrier, jsonOut                  string
	vehicles, retryEvery, routeEvery  int
	rate, hazmat                      float64
	duration, poll, within, calibrate time.Duration
}

func (a *app) simTMSCmd() *cobra.Command {
	var o simTMSFlags
	cmd := &cobra.Command{
		Use:   "tms",
		Short: "Tender and dispatch loads to a running 'sim fleet' as a TMS, and measure POST → signed answer",
		Long: `Act as a TMS against a running gateway's TMS listener while 'fifthwheel sim
fleet' has its trucks connected. For --duration, --rate loads a second, each
load is: POST /v1/tenders (a load tender shaped like an EDI 204) → POST
/v1/dispatches to one of the trucks (round robin) → GET /v1/commands/{id}
every --poll until the command is final (at most --answer-within).

A --hazmat-fraction of the loads carry hazmat lines: their dispatch waits in
pending_approval until two simulated approvers (distinct TMS clients with
role approver, neither the requester) POST /v1/commands/{id}/approvals; the
run checks that one approval is not enough and that the truck got the
command only after both. Every --retry-every-th load re-POSTs its dispatch
with the same Idempotency-Key at once and again after the truck's answer,
and checks that the original answer came back both times (the same command,
no new one). That the truck ran each command once is the fleet's figure:
'sim fleet' reports duplicate executions, and --check fails on any. Every --route-update-every-th standard load, once accepted,
is re-routed (POST /v1/vehicles/{id}/route with If-Match "1" and the load's
tender_id): it waits for one approval, the first approver gives it, and the
truck must accept it; a 412 (the truck was dispatched another load
meanwhile) is counted, not a failure.

Before the run it provisions through the fleet CA and the store (--data,
--store), as 'client add', 'client roles set', 'pki issue client' and
'vehicle carrier set' would: three TMS clients of --carrier (PREFIX-dispatcher
with role dispatcher, PREFIX-approver-1 and -2 with role approver), and it
sets the carrier of the trucks VPREFIX00000 … (--vehicles of them; 'sim
fleet' registers them when they enroll, so start it first) to --carrier.

The report gives the counts (accepted, rejected, expired, timed out) and,
for standard loads, the dispatch POST sent → the accepted transition the
gateway recorded when the truck's signed answer arrived (same host clock),
and → the poll that saw it; for hazmat loads, the second approval → accepted;
and beside them the one-core Ed25519 verify rate measured in this process
before and after the run (--calibrate), the machine's ceiling that day.
Any load not accepted, and any unexpected refusal, fails the run (exit 1).

Tracking: 'sim fleet' trucks report the stops of a dispatch they accept
(signed stop events, one every 1.5 s, with the ETA in their telemetry). After
the loads, the run reads GET /v1/tenders/{id}/events of every accepted load,
and of each truck's last load until it shows its delivery (at most 12 s), and
reports how many loads had events, their delivery, and an ETA. A truck given
a new load stops reporting the one before, so these figures do not fail the
run.
A 429 (the per-client budget, access.rate_per_second, default 50/s) is
honoured with its Retry-After and counted; the dispatcher's polls share that
budget, so when loads are slow it throttles the polling. To measure the
gateway rather than the budget, start it with the budget raised, e.g.
  FIFTHWHEEL_ACCESS_RATE_PER_SECOND=10000 FIFTHWHEEL_ACCESS_BURST=10000 \
    fifthwheel serve --dev --data ./fw-data`,
		Example: `  fifthwheel serve --dev --data ./fw-data &
  fifthwheel sim fleet --vehicles 200 --duration 120s --blackout-fraction 0 --data ./fw-data &
  fifthwheel sim tms --vehicles 200 --duration 60s --rate 5 --hazmat-fraction 0.2 --data ./fw-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.simTMS(cmd, &o) },
	}
	o.st = caStateFlags()
	o.st.register(cmd.Flags())
	registerKEKFlag(cmd)
	o.op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&o.gateway, "gateway", "", "the gateway's TMS listener, `HOST:PORT` or https://HOST:PORT (default: from DATA/serve.addrs)")
	fs.StringVar(&o.serverNm, "server-name", "", "the `NAME` the gateway's certificate carries, if not the address's host")
	fs.StringVar(&o.prefix, "prefix", sim.DefaultTMSPrefix, "name the TMS clients `PREFIX`-dispatcher, PREFIX-approver-1, -2 and the tenders")
	fs.StringVar(&o.vPrefix, "vehicles-prefix", sim.DefaultIDPrefix+"-", "the trucks are `VPREFIX`00000, VPREFIX00001, … (as 'sim fleet' names them)")
	fs.IntVar(&o.vehicles, "vehicles", 1, "dispatch to `N` trucks, round robin (all connected)")
	fs.StringVar(&o.carrier, "carrier", sim.DefaultTMSCarrier, "the `CARRIER` of the clients and trucks")
	fs.Float64Var(&o.rate, "rate", 5, "start `R` loads a second")
	fs.Float64Var(&o.hazmat, "hazmat-fraction", 0.2, "the `FRACTION` of loads that carry hazmat (two approvals)")
	fs.IntVar(&o.retryEvery, "retry-every", sim.DefaultTMSRetryEvery, "re-POST every `N`-th load's dispatch with the same Idempotency-Key, at once and after the truck's answer (0: never)")
	fs.IntVar(&o.routeEvery, "route-update-every", sim.DefaultTMSRouteUpdateEvery, "re-route every `N`-th standard load once accepted (one approval; 0: never)")
	fs.DurationVar(&o.duration, "duration", time.Minute, "start loads for `D`")
	fs.DurationVar(&o.poll, "poll", sim.DefaultTMSPoll, "GET the command every `D` until final")
	fs.DurationVar(&o.within, "answer-within", sim.DefaultTMSAnswerWithin, "a load not final `D` after its dispatch fails the run")
	fs.DurationVar(&o.calibrate, "calibrate", sim.DefaultCalibrateFor, "measure the one-core Ed25519 verify rate for `D` before and after the run")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to `FILE`")
	return cmd
}

func (a *app) simTMS(cmd *cobra.Command, o *simTMSFlags) error {
	ctx := cmd.Context()
	carrier, err := parseCarrier(o.carrier)
	if err != nil {
		return err
	}
	if o.vehicles < 1 || o.vehicles > 100000 {
		return &usageError{err: errors.New("--vehicles: must be 1 to 100000")}
	}
	e, err := a.openState(cmd, &o.st, false)
	if err != nil {
		return err
	}
	defer e.close()
	ca, err := a.openCA(ctx, e)
	if err != nil {
		return err
	}
	by, err := o.op.actor(ctx, e)
	if err != nil {
		return err
	}
	url, _, err := tmsGateway(e.cfg, o.gateway)
	if err != nil {
		return err
	}
	vehicles := make([]string, o.vehicles)
	for i := range vehicles {
		vehicles[i] = fmt.Sprintf("%s%05d", o.vPrefix, i)
	}
	run, err := sim.NewTMS(sim.TMSConfig{
		Gateway:  sim.Target{URL: url, ServerName: o.serverNm, CAPEM: certPEM(ca.Root())},
		Vehicles: vehicles, Carrier: carrier, IDPrefix: o.prefix, Rate: o.rate, Duration: o.duration,
		HazmatFraction: o.hazmat, RetryEvery: o.retryEvery, RouteUpdateEvery: o.routeEvery, PollEvery: o.poll, AnswerWithin: o.within,
		CalibrateFor: o.calibrate,
	}, &tmsProvisioner{caAccessProvisioner{e: e, ca: ca, by: by, lifetime: o.duration + time.Hour}})
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel sim tms --help'"}
	}
	rctx, stop := a.simSignals(ctx, "the simulated TMS")
	defer stop()
	fmt.Fprintf(a.stderr, "fifthwheel sim tms: %g loads/s to %d trucks against %s for %s\n", o.rate, o.vehicles, url, o.duration)
	report, err := run.Run(rctx)
	if err != nil {
		return err
	}
	return a.printReport(report, o.jsonOut, "sim tms", report.Failures)
}

// tmsProvisioner is the access provisioner plus 'vehicle carrier set'.
type tmsProvisioner struct{ caAccessProvisioner }

// TMSClient implements sim.TMSProvisioner.
func (p *tmsProvisioner) TMSClient(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error) {
	return p.caAccessProvisioner.TMSClient(ctx, id, carrier, roles)
}

// VehicleCarrier implements sim.TMSProvisioner: the vehicle must be
// registered (by the fleet's enrollment); its carrier is set as 'vehicle
// carrier set' does, with the same event.
func (p *tmsProvisioner) VehicleCarrier(ctx context.Context, id, carrier string) error {
	v, err := principal.New(principal.Vehicle, id)
	if err != nil {
		return err
	}
	cur, err := p.e.st.GetVehicle(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("vehicle %s is not registered (start 'sim fleet' with at least as many trucks first)", id)
	}
	if err != nil || cur.Carrier == carrier {
		return err
	}
	if err := p.e.st.SetVehicleCarrier(ctx, id, carrier); err != nil {
		return err
	}
	return p.e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "vehicle_carrier_set",
		Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.VehicleCarrierChanged, Actor: p.by,
		Resource: v.String(), Attrs: map[string]any{"from": cur.Carrier, "to": carrier, "via": "sim tms"}})
}
