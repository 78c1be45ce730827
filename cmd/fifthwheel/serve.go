package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/server"
)

// addrsFile, in the data directory, holds the bound listener addresses of a
// running serve and its process id as JSON (serveAddrs), so scripts, tests
// using port 0 and `sim load` (which reads the gateway's CPU time) can find
// them. It is removed on a clean stop.
const addrsFile = "serve.addrs"

// serveAddrs is the content of addrsFile.
type serveAddrs struct {
	server.Addrs
	PID int `json:"pid"`
}

// eventEmitTimeout bounds recording a lifecycle event at start and stop.
const eventEmitTimeout = 10 * time.Second

// gatewayActor is the principal of the gateway's own lifecycle events.
var gatewayActor = principal.Principal{Kind: principal.System, ID: "gateway"}

// serveUnaggregated, when set (by tests only), makes serve record the
// events about peers without a certificate one by one, bypassing the
// aggregator: the proof that the event-flood drill fails against a gateway
// without aggregation.
var serveUnaggregated bool

func (a *app) serveCmd() *cobra.Command {
	var (
		f         = stateFlags{paths: map[string]string{"listen-vehicle": "listen.vehicle", "listen-tms": "listen.tms", "listen-ops": "listen.ops", "log-level": "log.level", "kek-file": "pki.kek_file"}}
		dev       bool
		pprofAddr string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway: vehicle, TMS and ops listeners",
		Long: `Run the gateway until SIGINT or SIGTERM.

Three listeners:
  vehicle  mTLS 1.3  trucks: telemetry, enrollment, renewal   (default 127.0.0.1:8443)
  tms      mTLS 1.3  the TMS REST API (clients, operators)    (default 127.0.0.1:9443)
  ops      HTTP      /livez, /readyz, /metrics, /pki/crl, /pki/ocsp (default 127.0.0.1:9090)

Settings come from --config FILE, then FIFTHWHEEL_* variables, then flags.
Without --dev, the location of the state is required: --data DIR, --store URL,
or data_dir/store_url in the configuration; any bind address is allowed.

--dev is for trying the gateway on one machine: it needs no configuration
file, creates the data directory (mode 0700) and its database, creates the
fleet CA if there is none (its keys encrypted with a random key file,
DATA/pki.kek), writes an operator credential for the local CLI
(DATA/operator/{cert,key,ca}.pem), and refuses to bind anything but loopback.

The bound addresses are logged ("listening") and, when there is a data
directory, written to DIR/serve.addrs as JSON while the gateway runs; listen
on port 0 to let the system pick free ports.

On SIGINT or SIGTERM the gateway stops accepting, lets in-flight requests
finish (http.shutdown_timeout), records a stop event, closes the store and
exits 0. A second signal exits at once.

TLS: both TLS listeners accept TLS 1.3 only, present the gateway's server
certificate from the fleet CA (pki.server_names; DATA/gateway/, renewed once
past 2/3 of its life) and require a client certificate from the fleet's
intermediates: vehicles on the vehicle listener, TMS clients and operators on
the TMS listener. The one exception is POST /v1/pki/enroll, which a vehicle
without a certificate reaches with a join token (pki.enrollment). Every
handshake is recorded as a security event; a revoked certificate is refused
and its open connections are closed within 1 s. Without --dev the CA must
exist ('fifthwheel pki init') and its KEK be given (FIFTHWHEEL_CA_PASSPHRASE
or pki.kek_file).`,
		Example: `  # Local trial: state in ./fw-data, loopback only
  fifthwheel serve --dev --data ./fw-data

  # Production-like: settings from a file, state in PostgreSQL
  fifthwheel serve --config /etc/fifthwheel/gateway.yaml --store postgres://fifthwheel@db:5432/fifthwheel

  # Free ports picked by the system (tests)
  fifthwheel serve --dev --data ./d --listen-vehicle 127.0.0.1:0 --listen-tms 127.0.0.1:0 --listen-ops 127.0.0.1:0`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd, &f, dev, pprofAddr)
		},
	}
	f.register(cmd.Flags())
	fs := cmd.Flags()
	fs.BoolVar(&dev, "dev", false, "local trial: no configuration file needed, create --data DIR, loopback binds only")
	fs.String("listen-vehicle", "", "vehicle listener `HOST:PORT` (listen.vehicle)")
	fs.String("listen-tms", "", "TMS listener `HOST:PORT` (listen.tms)")
	fs.String("listen-ops", "", "ops listener `HOST:PORT` (listen.ops)")
	fs.String("log-level", "", "log `LEVEL`: debug, info, warn or error (log.level)")
	fs.StringVar(&pprofAddr, "pprof", "", "serve Go runtime profiles on loopback `HOST:PORT` (for performance work; off by default)")
	registerKEKFlag(cmd)
	return cmd
}

func (a *app) serve(cmd *cobra.Command, f *stateFlags, dev bool, pprofAddr string) error {
	cfg, src, err := a.loadConfig(cmd, f)
	if err != nil {
		return err
	}
	if !dev && f.config == "" && cfg.DataDir == "" && cfg.StoreURL == "" {
		return &usageError{
			err:  errors.New("serve needs to know where gateway state lives: pass --config FILE, --data DIR or --store URL"),
			hint: "to try it locally: fifthwheel serve --dev --data ./fw-data",
		}
	}
	if err := validate(cfg, src, dev, "configuration"); err != nil {
		return err
	}
	log := newLogger(a.stderr, cfg.Log)

	// The first SIGINT/SIGTERM starts a graceful stop; after it the default
	// action applies again, so a second one ends the process at once.
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		select {
		case sig := <-sigc:
			signal.Stop(sigc)
			cancel(fmt.Errorf("received %v", sig))
		case <-ctx.Done():
		}
	}()

	if pprofAddr != "" {
		if err := startPprof(ctx, pprofAddr, log); err != nil {
			return err
		}
	}
	if dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create the data directory: %v", err)
		}
	}
	st, err := openStore(ctx, cfg, dev)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store failed", slog.Any("err", err))
		}
	}()

	reg := prometheus.NewRegistry()
	stats, err := server.NewEventStats(reg)
	if err != nil {
		return err
	}
	bus, closeEvents, err := eventBus(cfg, st, stats, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeEvents(); err != nil {
			log.Error("closing the events file failed", slog.Any("err", err))
		}
	}()
	// Events about peers that have not proven who they are go through the
	// aggregator (per source and window). Closing it records its pending
	// summaries (a failure is logged and counted by the aggregator); it is
	// closed before the sinks are.
	agg, err := event.NewAggregator(bus, event.AggregatorConfig{Window: cfg.Events.AggregateWindow},
		event.AggregatorDeps{Log: log, Stats: stats})
	if err != nil {
		return err
	}
	defer func() { _ = agg.Close() }()
	var events event.Emitter = agg
	if serveUnaggregated {
		events = bus
	}

	// Background work of the PKI (revocation feed, certificate renewal, CA
	// reload) outlives ctx: it must keep closing revoked connections while
	// in-flight requests drain, and stops once Serve has returned.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	env := &stateEnv{cfg: cfg, st: st, bus: bus, events: events, log: log}
	gw, err := a.startPKI(ctx, bg, env, dev)
	if err != nil {
		return err
	}
	defer gw.tracker.Stop()
	vs, err := a.startVehicleSide(bg, env)
	if err != nil {
		return err
	}
	vehicleTLS, tmsTLS, err := gw.listenerTLS(events)
	if err != nil {
		return err
	}
	access, err := startTMSAccess(ctx, bg, cfg, st, vs.secrets, gw.rs, env.bus, events, log)
	if err != nil {
		return err
	}
	logKey, err := startAudit(ctx, bg, cfg, st, vs.secrets, env.bus, log)
	if err != nil {
		return err
	}
	// Retention: purge frame payloads past telemetry.retention and
	// incidents resolved more than incidents.retention ago, at start and
	// every ingest.RetentionInterval, on the store's bulk lane.
	go newRetention(cfg, st, env.bus, log).Run(bg)
	stopSIEM, err := startSIEM(bg, cfg, st, env.bus, log)
	if err != nil {
		return err
	}
	defer stopSIEM()
	routes, err := gw.routes(bg, cfg, env, vs, access, logKey, reg)
	if err != nil {
		return err
	}
	// Detection: rules over the event stream (docs/DETECTION.md), its
	// findings reported to the incident manager; stopped before the store
	// closes.
	stopDetect, err := startDetect(bg, cfg, st, env.bus, routes.incidents, reg, log)
	if err != nil {
		return err
	}
	defer stopDetect()
	stopLag, err := startStreamLag(bg, st, reg, log)
	if err != nil {
		return err
	}
	defer stopLag()
	// Closed below once the sessions are; this covers the paths that do
	// not get there (Close is idempotent), before the store closes.
	defer func() { _ = routes.pipeline.Close() }()
	build := buildInfo()
	srv, err := server.New(cfg, server.Deps{
		Log:           log,
		Store:         st,
		Events:        events,
		Registry:      reg,
		VehicleTLS:    vehicleTLS,
		TMSTLS:        tmsTLS,
		VehicleRoutes: routes.vehicle,
		TMSRoutes:     routes.tms,
		OpsRoutes:     routes.ops,
		Admission:     gw.admission(cfg, events, routes.session, access),
		Build:         build,
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("%v; free the port or choose another (listen.* or --listen-*)", err)
	}
	addrs := srv.Addrs()
	addrsPath := ""
	if cfg.DataDir != "" {
		addrsPath = filepath.Join(cfg.DataDir, addrsFile)
	}

	// Lifecycle events: a gateway that cannot record events does not serve
	// (fail closed).
	started := time.Now()
	attrs := map[string]any{
		"version": build.Version, "commit": build.Commit, "store": st.Engine(), "dev": dev,
		"listen_vehicle": addrs.Vehicle, "listen_tms": addrs.TMS, "listen_ops": addrs.Ops,
	}
	if err := emit(ctx, bus, "start", codes.GatewayStarted, attrs); err != nil {
		_ = srv.Close()
		return fmt.Errorf("cannot record the start event, so not serving: %v", err)
	}
	if addrsPath != "" {
		if err := writeAddrs(addrsPath, addrs); err != nil {
			log.Warn("cannot write the addresses file", slog.String("path", addrsPath), slog.Any("err", err))
			addrsPath = ""
		}
	}
	log.Info("started", slog.String("store", storeDesc(cfg)), slog.Bool("dev", dev),
		slog.String("vehicle", addrs.Vehicle), slog.String("tms", addrs.TMS), slog.String("ops", addrs.Ops))

	serveErr := srv.Serve(ctx)
	// Vehicle sessions are hijacked connections the HTTP server does not
	// drain: close them with "gateway shutdown" so trucks reconnect elsewhere.
	sctx, stopSessions := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
	if err := routes.session.Shutdown(sctx); err != nil {
		log.Warn("vehicle sessions did not close in time", slog.Any("err", err))
	}
	stopSessions()
	// No frame is processed any more: record the accepted-frame summaries
	// of the interval in progress (a failure is logged by the pipeline;
	// the frame rows remain the record), and the aggregator's pending
	// summaries, before the stop event.
	_ = routes.pipeline.Close()
	_ = agg.Close()

	if addrsPath != "" {
		_ = os.Remove(addrsPath)
	}
	reason := "signal"
	if cause := context.Cause(ctx); cause != nil {
		reason = cause.Error()
	}
	if serveErr != nil {
		reason = serveErr.Error()
	}
	stopAttrs := map[string]any{"reason": reason, "uptime": time.Since(started).Round(time.Millisecond)}
	if err := emit(context.WithoutCancel(ctx), bus, "stop", codes.GatewayStopped, stopAttrs); err != nil {
		log.Error("cannot record the stop event", slog.Any("err", err))
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("stopped", slog.String("reason", reason))
	return nil
}

// retentionStore is what serve's retention loop purges.
type retentionStore interface {
	ingest.PurgeStore
	incident.PurgeStore
}

// newRetention is serve's retention loop: frame payloads past
// telemetry.retention, then incidents resolved more than
// incidents.retention ago.
func newRetention(cfg config.Config, st retentionStore, events event.Emitter, log *slog.Logger) *ingest.Retention {
	return &ingest.Retention{Store: st, Events: events, Log: log, Actor: gatewayActor, Keep: cfg.Telemetry.Retention,
		Also: []ingest.Purger{newIncidentRetention(cfg, st, events, log)}}
}

// newIncidentRetention is serve's purge of resolved incidents past
// incidents.retention.
func newIncidentRetention(cfg config.Config, st incident.PurgeStore, events event.Emitter, log *slog.Logger) *incident.Retention {
	return &incident.Retention{Store: st, Events: events, Log: log, Actor: gatewayActor, Keep: cfg.Incidents.Retention}
}

// emit records one system lifecycle event.
func emit(ctx context.Context, bus *event.Bus, activity, code string, attrs map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, eventEmitTimeout)
	defer cancel()
	return bus.Emit(ctx, event.Event{
		Class:    event.ClassSystem,
		Activity: activity,
		Severity: event.SeverityInfo,
		Actor:    gatewayActor,
		Verdict:  event.Info,
		Code:     code,
		Attrs:    attrs,
	})
}

// writeAddrs writes the bound addresses atomically (mode 0600).
func writeAddrs(path string, addrs server.Addrs) error {
	b, err := json.Marshal(serveAddrs{Addrs: addrs, PID: os.Getpid()})
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// newLogger returns the slog logger cfg asks for, writing to w.
func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated: debug, info, warn, error
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
