package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

type simAccessFlags struct {
	st                      stateFlags
	op                      operatorFlag
	gateway, serverNm       string
	prefix, carrier, roles  string
	mode, jsonOut, pprof    string
	clients, vehicles       int
	freshEvery, gatewayPID  int
	duration, warmup        time.Duration
	calibrate, summaryEvery time.Duration
}

func (a *app) simAccessCmd() *cobra.Command {
	var o simAccessFlags
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Measure TMS access: tokens issued and guarded reads per second against a running gateway",
		Long: `Drive N TMS clients against a running gateway's TMS listener, each over its
own mutual-TLS HTTP/2 connection with its own certificate, for --duration,
and report what the gateway granted. Run it as its own process beside
'fifthwheel serve'. It talks to the gateway only over the network, as a TMS
does: POST /oauth2/token (grant client_credentials, tls_client_auth) and
GET /v1/vehicles/{id}/state with the certificate-bound token.

Before the run it provisions through the fleet CA and the store (--data,
--store): it registers --vehicles vehicles of --carrier (PREFIX-v00000, …)
and --clients TMS clients of --carrier (PREFIX-c00000, …) with --roles, and
issues each client a new certificate, as 'vehicle add', 'client add',
'client roles set' and 'pki issue client' would.

Modes:
  tokens  every client POSTs /oauth2/token over and over: tokens issued/s.
          Each issue is recorded as an event first, so the database grows.
  reads   every client gets a token and GETs vehicle states with it:
          guarded requests/s. The guard remembers verified tokens, so this
          is the cached path; --fresh-token-every K gets a new token every K
          reads, so the guard verifies K-th requests' signatures (the
          uncached path) and the token endpoint runs too.
  mix     even-numbered clients read, odd-numbered ones mint tokens.

It reports, over the run minus --warmup, tokens issued/s and guarded
reads/s with p50/p99 latency, refusals by HTTP status and problem code, the
one-core Ed25519 verify rate measured in this process before and after the
run (crypto/ed25519, one goroutine, --calibrate), the gateway's CPU in cores
and per answered request (from /proc/PID/stat: --gateway-pid, else the pid
serve writes to DATA/serve.addrs), this process's CPU, and the SQLite
database's growth.

Every request the driver sends is one the gateway must grant: any refusal
other than 429 (the per-client budget, honoured with its Retry-After) is an
error, and so is a run in which nothing succeeded; the report is printed and
the command exits 1. The per-client budget (access.rate_per_second, default
50/s) caps each client: to measure the gateway rather than the budget, start
it with the budget raised, e.g.
  FIFTHWHEEL_ACCESS_RATE_PER_SECOND=10000 FIFTHWHEEL_ACCESS_BURST=10000 \
    fifthwheel serve --dev --data /tmp/access-data`,
		Example: `  FIFTHWHEEL_ACCESS_RATE_PER_SECOND=10000 FIFTHWHEEL_ACCESS_BURST=10000 \
    fifthwheel serve --dev --data /tmp/access-data &
  fifthwheel sim access --mode tokens --clients 8 --duration 60s --data /tmp/access-data
  fifthwheel sim access --mode reads --clients 16 --duration 60s --data /tmp/access-data --json reads.json
  fifthwheel sim access --mode reads --clients 16 --fresh-token-every 10 --duration 60s --data /tmp/access-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.simAccess(cmd, &o) },
	}
	o.st = caStateFlags()
	o.st.register(cmd.Flags())
	registerKEKFlag(cmd)
	o.op.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&o.gateway, "gateway", "", "the gateway's TMS listener, `HOST:PORT` or https://HOST:PORT (default: from DATA/serve.addrs)")
	fs.StringVar(&o.serverNm, "server-name", "", "the `NAME` the gateway's certificate carries, if not the address's host")
	fs.StringVar(&o.prefix, "prefix", sim.DefaultAccessPrefix, "name the clients `PREFIX`-c00000, … and the vehicles PREFIX-v00000, …")
	fs.StringVar(&o.carrier, "carrier", sim.DefaultAccessCarrier, "the `CARRIER` of the clients and vehicles")
	fs.StringVar(&o.roles, "roles", "planner", "the clients' comma-separated `ROLES` (\"\": none; the gateway then refuses them tokens)")
	fs.StringVar(&o.mode, "mode", string(sim.AccessReads), "`MODE`: tokens, reads or mix")
	fs.IntVar(&o.clients, "clients", 8, "run `N` TMS clients, one connection each")
	fs.IntVar(&o.vehicles, "vehicles", 16, "read the states of `M` vehicles")
	fs.IntVar(&o.freshEvery, "fresh-token-every", 0, "reads: get a new token every `K` reads (0: one token a client, the cached path)")
	fs.DurationVar(&o.duration, "duration", time.Minute, "run for `D`, warm-up included")
	fs.DurationVar(&o.warmup, "warmup", sim.DefaultLoadWarmup, "leave the first `D` out of the figures")
	fs.DurationVar(&o.calibrate, "calibrate", sim.DefaultCalibrateFor, "measure the one-core verify rate for `D` before and after the run")
	fs.DurationVar(&o.summaryEvery, "summary-every", sim.DefaultSummaryEvery, "print a live line every `D` (0: never)")
	fs.IntVar(&o.gatewayPID, "gateway-pid", 0, "read the gateway's CPU time of process `PID` (default: the pid in DATA/serve.addrs)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to `FILE`")
	fs.StringVar(&o.pprof, "pprof", "", "serve Go runtime profiles of this process on loopback `HOST:PORT` (off by default)")
	return cmd
}

func (a *app) simAccess(cmd *cobra.Command, o *simAccessFlags) error {
	ctx := cmd.Context()
	roles, err := parseRoles(o.roles)
	if err != nil {
		return err
	}
	carrier, err := parseCarrier(o.carrier)
	if err != nil {
		return err
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
	if o.pprof != "" {
		if err := startPprof(ctx, o.pprof, e.log); err != nil {
			return err
		}
	}
	url, pid, err := tmsGateway(e.cfg, o.gateway)
	if err != nil {
		return err
	}
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
	run, err := sim.NewAccess(sim.AccessConfig{
		Gateway: sim.Target{URL: url, ServerName: o.serverNm, CAPEM: certPEM(ca.Root())},
		Clients: o.clients, Vehicles: o.vehicles, IDPrefix: o.prefix, Carrier: carrier, Roles: roles,
		Mode: sim.AccessMode(o.mode), FreshTokenEvery: o.freshEvery, Duration: o.duration, Warmup: o.warmup,
		CalibrateFor: o.calibrate, GatewayPID: pid, DBPath: dbPath, SummaryEvery: summaryEvery,
	}, sim.AccessDeps{Provisioner: &caAccessProvisioner{e: e, ca: ca, by: by, lifetime: o.duration + time.Hour}, Log: e.log,
		OnSummary: func(s sim.AccessSummary) { fmt.Fprintf(a.stderr, "fifthwheel sim access: %s\n", s) }})
	if err != nil {
		return &usageError{err: err, hint: "see 'fifthwheel sim access --help'"}
	}
	rctx, stop := a.simSignals(ctx, "the TMS clients")
	defer stop()
	fmt.Fprintf(a.stderr, "fifthwheel sim access: %d clients (%s) against %s for %s\n", o.clients, o.mode, url, o.duration)
	report, err := run.Run(rctx)
	if err != nil {
		return err
	}
	return a.printReport(report, o.jsonOut, "sim access", report.Failures())
}

// tmsGateway finds the gateway's TMS listener, from addr (HOST:PORT or
// https://HOST:PORT) or else DATA/serve.addrs, and the process id serve
// wrote there (0 if none).
func tmsGateway(cfg config.Config, addr string) (string, int, error) {
	pid := 0
	path := filepath.Join(cfg.DataDir, addrsFile)
	if cfg.DataDir != "" {
		if b, err := os.ReadFile(path); err == nil {
			var sa serveAddrs
			if json.Unmarshal(b, &sa) == nil {
				pid = sa.PID
				if addr == "" {
					addr = sa.TMS
				}
			}
		}
	}
	if addr == "" {
		if cfg.DataDir == "" {
			return "", 0, &usageError{err: errors.New("no gateway address: pass --gateway HOST:PORT (the TMS listener), or --data DIR of a running 'fifthwheel serve'")}
		}
		return "", 0, &usageError{err: fmt.Errorf("no TMS listener address in %s (is 'fifthwheel serve --data %s' running?); or pass --gateway HOST:PORT",
			path, cfg.DataDir)}
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	return strings.TrimSuffix(addr, "/"), pid, nil
}

// caAccessProvisioner registers the access driver's principals in the
// store and issues its clients' certificates with the fleet CA, recording
// the events the equivalent CLI commands record.
type caAccessProvisioner struct {
	e        *stateEnv
	ca       *pki.CA
	by       principal.Principal
	lifetime time.Duration
}

// Vehicle implements sim.AccessProvisioner.
func (p *caAccessProvisioner) Vehicle(ctx context.Context, id, carrier string) error {
	v, err := principal.New(principal.Vehicle, id)
	if err != nil {
		return err
	}
	if err := carrierAgrees(ctx, p.e, v, carrier); err != nil {
		return err
	}
	return ensureRegistered(ctx, p.e, v, carrier, p.by)
}

// TMSClient implements sim.AccessProvisioner.
func (p *caAccessProvisioner) TMSClient(ctx context.Context, id, carrier string, roles []string) (tls.Certificate, error) {
	c, err := principal.New(principal.Client, id)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := carrierAgrees(ctx, p.e, c, carrier); err != nil {
		return tls.Certificate{}, err
	}
	if err := ensureRegistered(ctx, p.e, c, carrier, p.by); err != nil {
		return tls.Certificate{}, err
	}
	cur, err := getClient(ctx, p.e, id)
	if err != nil {
		return tls.Certificate{}, err
	}
	if cur.Status != store.ClientActive {
		return tls.Certificate{}, fmt.Errorf("client %s is %s: resume it first ('fifthwheel client resume %s')", id, cur.Status, id)
	}
	if !slices.Equal(cur.Roles, roles) {
		if err := p.e.st.SetClientRoles(ctx, id, roles); err != nil {
			return tls.Certificate{}, err
		}
		if err := p.e.emitAction(ctx, event.Event{Class: event.ClassAuthorization, Activity: "roles_set",
			Verdict: event.Info, Severity: event.SeverityMedium, Code: codes.RolesChanged, Actor: p.by,
			Resource: c.String(), Attrs: map[string]any{"from": nonNil(cur.Roles), "to": nonNil(roles), "via": "sim access"}}); err != nil {
			return tls.Certificate{}, err
		}
	}
	is, key, err := p.ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: c, Lifetime: p.lifetime, RequestedBy: p.by}, pki.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue a certificate for %s: %v", c, pkiMessage(err))
	}
	return tls.Certificate{Certificate: is.Chain, PrivateKey: key, Leaf: is.Certificate}, nil
}
