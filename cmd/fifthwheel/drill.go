package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/server"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// drillTargetHook, when set (by tests only), replaces the drill target
// once it is built: the proof that the drills fail against a gateway
// whose checks are gone.
var drillTargetHook func(*drill.Target)

// drillPrefix names drill vehicles.
const drillPrefix = "drill"

// devGatewayWait bounds the in-process gateway's start.
const devGatewayWait = 60 * time.Second

type drillFlags struct {
	st        stateFlags
	op        operatorFlag
	gateway   string
	only      []string
	report    string
	json      bool
	timeout   time.Duration
	eventWait time.Duration
	attackSrc string
	tms       string
}

func (a *app) drillCmd() *cobra.Command {
	var o drillFlags
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Attack a gateway with the security drill catalogue and report what it refused",
		Long: `Run the security drill catalogue: each drill performs one attack or fault
against a real gateway over the network (replayed, tampered and forged frames,
counter rollback, epoch jump, skewed clock, a TLS 1.2 client, a self-signed
certificate with a truck's identity, a heartbeat blackout, a flapping link,
a handshake stall and an event flood from a host without a certificate; on
the TMS listener a stolen token without its certificate, a token over another
client's certificate, a revoked client's live token and a cross-carrier read;
on the command channel, to a drill truck in session, a hazmat dispatch without
approvals, a self-approval, a TMS retry of a dispatch, a command envelope
replayed to the truck and one for another truck, both injected by an attacker
inside the truck's TLS path, and a command that expires while its truck is
dark)
and checks the outcome the gateway promises: the reason code the attacker is
answered with, and the security event read back from the gateway's store.

The handshake-stall and event-flood drills attack from another local
address than the drill trucks', since the gateway's bounds are per source:
127.0.0.2 against a gateway on loopback, else --attack-source IP. The flood
drill waits out the gateway's events.aggregate_window (10 s) for its
summaries; with a longer window, raise --timeout.

On the detection path, drills replay a frame and require an incident within
1 s, check that an exact re-send fires nothing, contain an incident by
revoking its truck from it (the live session closed within 1 s), and follow
the incident to the SIEM: the in-process gateway delivers to a webhook
receiver the drills stand up on loopback, a running gateway must have
siem.webhook.url, and every configured sink must deliver the incident.

Each drill reports pass, fail, or not_available when the capability it needs
has not landed yet. A drill that measured nothing fails. The exit status is 1 if any
drill failed.

By default the gateway is started in-process ('serve --dev'), on the
embedded store in a temporary directory that is removed afterwards. With
--data DIR or --store URL (or --config FILE) the drills attack the running
gateway of that state instead: its vehicle listener from DATA/serve.addrs or
--gateway, its TMS listener from DATA/serve.addrs or --gateway-tms, its fleet CA and event store opened as 'sim fleet' does (the
heartbeat, clock-skew and window settings must be the gateway's). Either way
drill vehicles are enrolled through the gateway's public enrollment path and
stay in its registry, named drill-<drill>-<random>; the wrong-profile drill
also issues a TMS client certificate, and the TMS access drills register
drill TMS clients (revoked when their drill ends), carriers and vehicles
without a credential, named likewise. Events about hosts without a
certificate are aggregated per source and 10 s window, so on a running
gateway the TLS drills may find only a summary, and fail, if run again
within seconds.`,
		Example: `  fifthwheel drill
  fifthwheel drill --only telemetry-replay,tampered-frame --report ./drill-out
  fifthwheel drill --json > report.json
  fifthwheel drill --data ./fw-data     # the gateway 'serve --dev --data ./fw-data' runs`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.drill(cmd, &o) },
	}
	o.st = caStateFlags() // --kek-file: the drills provision through the CA
	o.st.register(cmd.Flags())
	registerKEKFlag(cmd)
	o.op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&o.gateway, "gateway", "", "with --data/--store: the gateway's vehicle listener, `HOST:PORT` (default: from DATA/serve.addrs)")
	fs.StringVar(&o.tms, "gateway-tms", "", "with --data/--store: the gateway's TMS listener, `HOST:PORT`, for the TMS access drills (default: from DATA/serve.addrs)")
	fs.StringSliceVar(&o.only, "only", nil, "run only the drill `NAME` (repeatable, or a comma-separated list)")
	fs.StringVar(&o.report, "report", "", "write drill-report.json and drill-report.html into `DIR`")
	fs.BoolVar(&o.json, "json", false, "print the JSON report on stdout instead of the table")
	fs.DurationVar(&o.timeout, "timeout", drill.DefaultDrillTimeout, "fail a drill that has not finished after `D`")
	fs.StringVar(&o.attackSrc, "attack-source", "", "dial the attacks from a host without a certificate (handshake-stall, unauthenticated-event-flood) from local `IP`, another address than the drill trucks' (default: 127.0.0.2 against a gateway on loopback)")
	fs.DurationVar(&o.eventWait, "event-wait", drill.DefaultEventWait, "fail a drill whose security event is not in the gateway's store `D` after the refusal")
	return cmd
}

func (a *app) drill(cmd *cobra.Command, o *drillFlags) error {
	drills, err := drill.Select(drill.Catalogue(), o.only)
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel drill --help' for the catalogue"}
	}
	if o.timeout <= 0 || o.eventWait <= 0 {
		return &usageError{err: errors.New("--timeout and --event-wait must be positive")}
	}
	ctx := cmd.Context()
	started := time.Now()
	var target *drill.Target
	desc := "in-process gateway in a temporary directory"
	if o.st.data != "" || o.st.store != "" || o.st.config != "" {
		e, ca, by, err := a.openCAAs(cmd, &o.st, &o.op)
		if err != nil {
			return err
		}
		defer e.close()
		gwt, _, err := simGateway(e.cfg, o.gateway, "")
		if err != nil {
			return err
		}
		if target, err = drillTarget(e, ca, by, gwt.URL, tmsListener(e.cfg, o.tms), nil); err != nil {
			return err
		}
		target.ExportBundle = a.bundleExporter(e, by)
		desc = "running gateway at " + gwt.URL
	} else {
		if o.gateway != "" || o.tms != "" {
			return &usageError{err: errors.New("--gateway and --gateway-tms need --data or --store: the drills read the gateway's events from its store")}
		}
		ds, err := startDevSIEM(false)
		if err != nil {
			return err
		}
		defer ds.stop()
		gw, err := a.startDevGateway(ctx, "drill", ds.env...)
		if err != nil {
			return err
		}
		defer gw.stop()
		e, ca, by, err := gw.a.openCAAs(cmd, &stateFlags{}, &operatorFlag{})
		if err != nil {
			return err
		}
		defer e.close()
		if target, err = drillTarget(e, ca, by, "https://"+gw.addrs.Vehicle, "https://"+gw.addrs.TMS, ds.receiver); err != nil {
			return err
		}
		target.ExportBundle = gw.a.bundleExporter(e, by)
	}
	target.AttackSource = o.attackSrc
	if drillTargetHook != nil {
		drillTargetHook(target)
	}
	res := drill.Run(ctx, target, drills, drill.Config{Timeout: o.timeout, EventWait: o.eventWait, Progress: func(r drill.Result) {
		fmt.Fprintf(a.stderr, "drill %-24s %s\n", r.Name, r.Outcome)
	}})
	rep := drill.NewReport(desc, started, time.Now(), res)
	if o.report != "" {
		jp, hp, err := writeDrillReports(rep, o.report)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "reports: %s, %s\n", jp, hp)
	}
	if o.json {
		err = rep.WriteJSON(a.stdout)
	} else {
		err = rep.WriteTable(a.stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return fmt.Errorf("%d drill(s) failed", rep.Summary.Fail)
	}
	return nil
}

// inprocGateway is `serve --dev` running in-process in a temporary data
// directory: the same code path as the binary. `drill` and `demo` start
// one.
type inprocGateway struct {
	a     *app // the in-process gateway's own view: no FIFTHWHEEL_* from the caller
	dir   string
	addrs server.Addrs
	stop  func()
}

// startDevGateway starts the gateway and waits until it is ready; who
// (the command, "drill") names its temporary directory and its messages.
// The caller's FIFTHWHEEL_* variables are not passed on: the gateway must
// not pick up the operator's store or listeners; extraEnv (FIFTHWHEEL_*
// settings of the caller's own, such as its SIEM receiver) is. stop ends it and removes
// its directory.
func (a *app) startDevGateway(ctx context.Context, who string, extraEnv ...string) (*inprocGateway, error) {
	dir, err := os.MkdirTemp("", "fifthwheel-"+who+"-")
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range a.environ {
		if !strings.HasPrefix(kv, "FIFTHWHEEL_") {
			env = append(env, kv)
		}
	}
	env = append(env, extraEnv...)
	logs := &lockedBuffer{}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan int, 1)
	args := []string{"serve", "--dev", "--data", dir, "--listen-vehicle", "127.0.0.1:0",
		"--listen-tms", "127.0.0.1:0", "--listen-ops", "127.0.0.1:0"}
	go func() { done <- run(sctx, args, io.Discard, logs, env) }()
	// The CLI side finds the same state as the gateway through the
	// environment, as an operator's FIFTHWHEEL_DATA_DIR would.
	cliEnv := append(append([]string(nil), env...), config.EnvPrefix+"DATA_DIR="+dir)
	gw := &inprocGateway{a: &app{stdout: io.Discard, stderr: a.stderr, environ: cliEnv}, dir: dir}
	gw.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Fprintf(a.stderr, "fifthwheel: the %s gateway did not stop in time\n", who)
		}
		_ = os.RemoveAll(dir)
	}
	deadline := time.Now().Add(devGatewayWait)
	for {
		select {
		case code := <-done:
			done <- code
			gw.stop()
			return nil, fmt.Errorf("the %s gateway exited (%d) before it was ready:\n%s", who, code, logs.String())
		case <-ctx.Done():
			gw.stop()
			return nil, ctx.Err()
		default:
		}
		if b, err := os.ReadFile(filepath.Join(dir, addrsFile)); err == nil && json.Unmarshal(b, &gw.addrs) == nil && ready(gw.addrs.Ops) {
			return gw, nil
		}
		if time.Now().After(deadline) {
			gw.stop()
			return nil, fmt.Errorf("the %s gateway was not ready after %s:\n%s", who, devGatewayWait, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether the ops listener answers /readyz with 200.
func ready(ops string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + ops + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tmsListener is the TMS listener of the running gateway of cfg: addr
// (HOST:PORT or a URL) if given, else DATA/serve.addrs's; "" if neither
// names one (the TMS access drills then fail, saying so).
func tmsListener(cfg config.Config, addr string) string {
	if addr == "" && cfg.DataDir != "" {
		if b, err := os.ReadFile(filepath.Join(cfg.DataDir, addrsFile)); err == nil {
			var sa serveAddrs
			if json.Unmarshal(b, &sa) == nil {
				addr = sa.TMS
			}
		}
	}
	if addr == "" {
		return ""
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	return strings.TrimSuffix(addr, "/")
}

// drillTarget is what the drills need of the gateway whose state e and
// CA ca are, its vehicle listener at url and its TMS listener at tmsURL;
// by is who mints the drill vehicles' join tokens, registers and revokes
// the drill TMS clients and contains the drill incidents; rcv is the SIEM
// webhook receiver the gateway delivers to, when the drills started it.
func drillTarget(e *stateEnv, ca *pki.CA, by principal.Principal, url, tmsURL string, rcv *drill.WebhookReceiver) (*drill.Target, error) {
	keys, err := gatewayFrameKeys(e.cfg, "")
	if err != nil {
		return nil, err
	}
	cmdKeys, err := gatewayCommandKeys(e.cfg, "")
	if err != nil {
		return nil, err
	}
	det, err := drillDetection(e, ca, by, rcv)
	if err != nil {
		return nil, err
	}
	root := certPEM(ca.Root())
	return &drill.Target{URL: url, Detection: det, RootPEM: root, Prefix: drillPrefix, Events: e.st,
		ClockSkew: e.cfg.Telemetry.ClockSkew, Window: int64(e.cfg.Telemetry.Window), Plausibility: plausibilityConfig(e.cfg),
		Issue: func(ctx context.Context, p principal.Principal) (tls.Certificate, error) {
			is, key, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: p}, pki.ECDSAP256)
			if err != nil {
				return tls.Certificate{}, err
			}
			return is.TLSCertificate(key), nil
		},
		Revoke: func(ctx context.Context, id string) error {
			_, err := ca.RevokePrincipal(ctx, principal.Principal{Kind: principal.Vehicle, ID: id}, pki.ReasonKeyCompromise, by)
			return err
		},
		IssueCAForgery: func(ctx context.Context, id string) (tls.Certificate, error) {
			is, key, err := ca.IssueDrillCACertificate(ctx, principal.Principal{Kind: principal.Vehicle, ID: id}, by)
			if err != nil {
				return tls.Certificate{}, err
			}
			return is.TLSCertificate(key), nil
		},
		GatewayFrameKeys: keys, GatewayCommandKeys: cmdKeys, HeartbeatInterval: e.cfg.Heartbeat.Interval, HeartbeatMisses: e.cfg.Heartbeat.Misses,
		ResumeStableHeartbeats:        e.cfg.Session.ResumeStableHeartbeats,
		MaxPendingHandshakesPerSource: e.cfg.TLS.MaxPendingHandshakesPerSource,
		AggregateWindow:               e.cfg.Events.AggregateWindow,
		Provisioner: &sim.EnrollProvisioner{Tokens: sim.CAJoinTokens{CA: ca, TTL: simJoinTokenTTL, By: by},
			GatewayURL: url, GatewayCAPEM: root},
		TMSURL: tmsURL,
		RegisterClient: func(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error) {
			return registerDrillClient(ctx, e, ca, by, id, carrier, roles)
		},
		RegisterVehicle: func(ctx context.Context, id, carrier string) error {
			return registerDrillVehicle(ctx, e, by, id, carrier)
		},
		RevokeClient: func(ctx context.Context, id string) error {
			_, err := ca.RevokePrincipal(ctx, principal.Principal{Kind: principal.Client, ID: id}, pki.ReasonKeyCompromise, by)
			return err
		},
		Audit: drillAuditLog(e), // drill_audit.go
	}, nil
}

// registerDrillClient registers TMS client id of carrier with roles and
// issues its certificate, as `client add ID --carrier C --roles R` then
// `pki issue client ID` do (the registration recorded as by's, via
// "drill").
func registerDrillClient(ctx context.Context, e *stateEnv, ca *pki.CA, by principal.Principal, id, carrier string, roles []string) (tls.Certificate, error) {
	p, err := principal.New(principal.Client, id)
	if err != nil {
		return tls.Certificate{}, err
	}
	if _, err := parseCarrier(carrier); err != nil {
		return tls.Certificate{}, err
	}
	rs, err := parseRoles(strings.Join(roles, ","))
	if err != nil {
		return tls.Certificate{}, err
	}
	c := store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: time.Now().UTC(), Carrier: carrier, Roles: rs}
	if err := e.st.CreateClient(ctx, c); err != nil {
		return tls.Certificate{}, fmt.Errorf("register %s: %v", p, err)
	}
	if err := e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "client_add", Verdict: event.Accept,
		Severity: event.SeverityInfo, Code: codes.ClientRegistered, Actor: by, Resource: p.String(),
		Attrs: map[string]any{"via": "drill", "carrier": carrier, "roles": rs}}); err != nil {
		return tls.Certificate{}, err
	}
	is, key, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: p, RequestedBy: by}, pki.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, err
	}
	return is.TLSCertificate(key), nil
}

// registerDrillVehicle registers vehicle id of carrier without a
// credential, as `vehicle add ID --carrier C` does.
func registerDrillVehicle(ctx context.Context, e *stateEnv, by principal.Principal, id, carrier string) error {
	v, err := principal.New(principal.Vehicle, id)
	if err != nil {
		return err
	}
	if _, err := parseCarrier(carrier); err != nil {
		return err
	}
	if err := e.st.CreateVehicle(ctx, store.Vehicle{ID: id, Status: store.VehicleActive, CreatedAt: time.Now().UTC(), Carrier: carrier}); err != nil {
		return fmt.Errorf("register %s: %v", v, err)
	}
	return e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "register", Verdict: event.Accept,
		Severity: event.SeverityInfo, Code: codes.VehicleRegistered, Actor: by, Resource: v.String(),
		Attrs: map[string]any{"via": "drill", "carrier": carrier}})
}

// lockedBuffer is a goroutine-safe buffer for the in-process gateway's
// log, shown only if it fails to start.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
