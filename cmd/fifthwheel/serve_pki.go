package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/auditapi"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/incidentapi"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
	"github.com/fifthwheel/fifthwheel/internal/server"
	"github.com/fifthwheel/fifthwheel/internal/session"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

const (
	// caReloadInterval: how often serve checks ca.json for a rotation made
	// by another process (the CLI, or a replica's CA directory being
	// updated), and reloads the CA when it changed.
	caReloadInterval = 5 * time.Second
	// listenRetry is the pause before re-establishing a failed PostgreSQL
	// LISTEN; polling covers the gap.
	listenRetry = time.Second
)

// gatewayPKI is the fleet PKI as a running gateway uses it: made by
// startPKI, read-only after.
type gatewayPKI struct {
	ca      *pki.CA
	rs      *pki.RevocationSet
	tracker *pki.ConnTracker
	cert    *pki.ServerCert
}

// vehicleSide is what the vehicle endpoints need beyond the PKI: made by
// startVehicleSide, read-only after.
type vehicleSide struct {
	keys    *gwkey.Signer     // signs the session frames the gateway sends vehicles
	cmdKeys *gwkey.Signer     // signs the commands the gateway sends vehicles
	secrets pki.KeyEncrypter  // opens the HS256 secrets sealed in the store
	monitor *liveness.Monitor // heartbeat deadlines and fleet state
}

// startVehicleSide opens the gateway's frame-signing key set and the
// secrets key in the PKI directory (creating them on the first start), so
// replicas sharing the CA directory share them too, seals the HS256 secrets
// an older version left in the clear in the store (before anything
// listens), and starts, on bg, the key set's reload (a promotion made with
// 'fifthwheel gateway key promote' takes effect within
// gwkey.ReloadInterval) and the liveness monitor.
func (a *app) startVehicleSide(bg context.Context, e *stateEnv) (*vehicleSide, error) {
	dir, err := pkiDir(e.cfg)
	if err != nil {
		return nil, err
	}
	kek, err := a.kek(e.cfg)
	if err != nil {
		return nil, err
	}
	secrets, err := openSecretsKey(dir, kek, e.log)
	if err != nil {
		return nil, err
	}
	n, err := ingest.SealClearSecrets(bg, e.st, secrets)
	if err != nil {
		return nil, fmt.Errorf("seal the HS256 secrets stored in the clear: %v", err)
	}
	if n > 0 {
		e.log.Warn("sealed HS256 frame secrets an older version stored in the clear; whoever could read the store or its backups could read them: rotate them",
			slog.Int("sealed", n))
	}
	keys, err := openGatewayKeys(gwkey.Frame, dir, kek, e.log)
	if err != nil {
		return nil, err
	}
	cmdKeys, err := openGatewayKeys(gwkey.Command, dir, kek, e.log)
	if err != nil {
		return nil, err
	}
	go every(bg, gwkey.ReloadInterval, func() {
		for _, ks := range []*gwkey.Signer{keys, cmdKeys} {
			switch changed, err := ks.Reload(); {
			case err != nil:
				e.log.Error("reloading the gateway "+ks.Purpose().String()+" keys failed; signing with the current key",
					slog.String("kid", ks.Current().KID()), slog.Any("err", err))
			case changed:
				e.log.Info("gateway "+ks.Purpose().String()+" key promoted: signing with it now", slog.String("kid", ks.Current().KID()))
			}
		}
	})
	mon, err := liveness.New(livenessConfig(e.cfg), liveness.Deps{Events: e.bus, Log: e.log})
	if err != nil {
		return nil, err
	}
	go func() { _ = mon.Run(bg) }()
	return &vehicleSide{keys: keys, cmdKeys: cmdKeys, secrets: secrets, monitor: mon}, nil
}

// openGatewayKeys opens (or creates) the gateway's key set of purpose p
// (frame or command keys) in the CA directory dir.
func openGatewayKeys(p gwkey.Purpose, dir string, kek pki.KeyEncrypter, log *slog.Logger) (*gwkey.Signer, error) {
	keys, how, err := p.Open(dir, kek)
	if errors.Is(err, pki.ErrKeyDecrypt) {
		return nil, fmt.Errorf("cannot decrypt the gateway %s keys in %s: wrong passphrase or KEK file", p, filepath.Join(dir, p.SetFile))
	}
	if err != nil {
		return nil, fmt.Errorf("gateway %s keys: %v", p, err)
	}
	pub := slog.String("public_keys", filepath.Join(dir, p.PublicFile))
	switch how {
	case gwkey.Created:
		log.Info("gateway "+p.String()+" key created: vehicles must pin the published keys", slog.String("kid", keys.Current().KID()), pub)
	case gwkey.Migrated:
		log.Info("gateway frame key moved into a key set; vehicles pin the same key", slog.String("kid", keys.Current().KID()), pub)
	}
	return keys, nil
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// startPKI loads the fleet CA (creating it under --dev), loads the
// revocation set and keeps it fresh on bg (polling, plus LISTEN/NOTIFY on
// PostgreSQL), makes sure of the gateway's server certificate and, under
// --dev, of the local operator credential.
func (a *app) startPKI(ctx, bg context.Context, e *stateEnv, dev bool) (*gatewayPKI, error) {
	cfg, log := e.cfg, e.log
	dir, err := pkiDir(cfg)
	if err != nil {
		return nil, err
	}
	if dev && !caExists(dir) {
		kek, desc, err := a.initKEK(cfg, cfg.KEKPath() == "" && a.getenv(config.PassphraseEnv) == "")
		if err != nil {
			return nil, err
		}
		res, err := initCA(ctx, e, dir, "", pki.ECDSAP256, kek, gatewayActor)
		if err != nil {
			return nil, fmt.Errorf("create the development CA: %v", err)
		}
		log.Info("development CA created", slog.String("dir", dir), slog.String("kek", desc),
			slog.String("root_key", res.RootKeyFile))
	}
	ca, err := a.openCA(ctx, e)
	if err != nil {
		return nil, err
	}
	reg := pki.NewStoreRegistry(e.st)
	rs, err := pki.NewRevocationSet(reg, pki.RevocationConfig{PollInterval: cfg.PKI.RevocationPoll, MaxAge: cfg.PKI.RevocationMaxAge}, nil, log)
	if err != nil {
		return nil, err
	}
	// Load once before serving: a gateway that cannot read the revocation
	// list does not start (it would refuse every handshake anyway).
	if err := rs.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("cannot load the revocation list: %v", err)
	}
	g := &gatewayPKI{ca: ca, rs: rs, tracker: pki.NewConnTracker(rs, e.bus)}
	// Suspensions close the vehicle's live connections, on the revocation
	// feed's pace (pki.revocation_poll) and, on PostgreSQL, at its NOTIFY.
	sw, err := pki.NewSuspensionWatch(e.st, g.tracker, cfg.PKI.RevocationPoll, log)
	if err != nil {
		return nil, err
	}
	if _, err := sw.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("cannot read the vehicle registry: %v", err)
	}
	go rs.Run(bg)
	go sw.Run(bg)
	if n, ok := e.st.(store.Notifier); ok {
		go listen(bg, n, store.RevocationChannel, rs.Notify, log)
		go listen(bg, n, store.VehicleStatusChannel, sw.Notify, log)
	}
	go watchCA(bg, ca, dir, log)

	dns, ips := cfg.ServerNames()
	certDir := ""
	if cfg.DataDir != "" {
		certDir = filepath.Join(cfg.DataDir, gatewayDir)
	}
	g.cert, err = pki.NewServerCert(pki.ServerCertConfig{ID: gatewayID(), DNSNames: dns, IPAddresses: ips, Dir: certDir},
		pki.ServerCertDeps{CA: ca, Revocations: rs, Actor: gatewayActor, Log: log})
	if err != nil {
		return nil, err
	}
	if err := g.cert.Ensure(ctx, time.Now()); err != nil {
		return nil, err
	}
	go g.cert.Run(bg)
	if dev {
		if err := ensureDevOperator(ctx, ca, rs, e.st, cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// listen calls wake on every PostgreSQL NOTIFY on channel (the revocation
// and vehicle status feeds), re-establishing LISTEN after failures until ctx
// ends.
func listen(ctx context.Context, n store.Notifier, channel string, wake func(), log *slog.Logger) {
	for {
		err := n.Listen(ctx, channel, wake)
		if ctx.Err() != nil {
			return
		}
		log.Warn("LISTEN failed; polling alone until it is back", slog.String("channel", channel), slog.Any("err", err),
			slog.Duration("retry_in", listenRetry))
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

// watchCA reloads the CA when its ca.json changes (a rotation made with the
// CLI, or copied in from another replica).
func watchCA(ctx context.Context, ca *pki.CA, dir string, log *slog.Logger) {
	path := filepath.Join(dir, caStateFile)
	stamp := func() time.Time {
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}
		}
		return fi.ModTime()
	}
	last := stamp()
	every(ctx, caReloadInterval, func() {
		s := stamp()
		if s.Equal(last) {
			return
		}
		if err := ca.Reload(ctx); err != nil {
			log.Error("reloading the fleet CA failed; the previous state stays", slog.Any("err", err))
			return
		}
		last = s
		log.Info("fleet CA reloaded", slog.String("issuing", ca.IssuingKeyID()))
	})
}

// listenerTLS returns the mTLS configurations of the vehicle listener
// (vehicles only) and the TMS listener (TMS clients and operators). bus is
// the aggregator in front of the event bus: every handshake refusal is about
// a peer that has not proven who it is.
func (g *gatewayPKI) listenerTLS(bus event.Emitter) (vehicle, tms *tls.Config, err error) {
	deps := pki.ListenerDeps{Trust: g.ca.Trust(), Revocations: g.rs, Events: bus, GetCertificate: g.cert.GetCertificate}
	vehicle, err = pki.ServerTLSConfig(pki.ListenerConfig{Name: string(server.Vehicle), Allowed: []principal.Kind{principal.Vehicle}}, deps)
	if err != nil {
		return nil, nil, err
	}
	tms, err = pki.ServerTLSConfig(pki.ListenerConfig{Name: string(server.TMS),
		Allowed: []principal.Kind{principal.Client, principal.Operator}}, deps)
	return vehicle, tms, err
}

// admission wires pki's handshake report and connection tracking, and the
// session layer's load, into the server. bus is the aggregator in front of
// the event bus (handshake refusals are aggregated per source; tls_accepted
// passes straight through). While sess is overloaded, the vehicle listener
// closes new connections beyond its room before their TLS handshake.
func (g *gatewayPKI) admission(cfg config.Config, bus event.Emitter, sess *session.Handler, access *tmsAccess) *server.Admission {
	adm := &server.Admission{
		HandshakeTimeout: cfg.TLS.HandshakeTimeout,
		Report: func(ctx context.Context, listener string, conn *tls.Conn, err error) (principal.Principal, error) {
			return pki.ReportHandshake(ctx, bus, listener, conn, err)
		},
		Track: g.tracker.Track,
		Load:  sess.Load,
	}
	// The token endpoint's metadata and keys are public (RFC 8414, the
	// JWKS): a TMS or a third-party verifier fetches them without a
	// certificate. The token endpoint itself is not: the certificate is
	// the client's authentication.
	adm.Anonymous = map[server.Listener][]string{server.TMS: access.anonymousPatterns()}
	if cfg.PKI.Enrollment {
		adm.Anonymous[server.Vehicle] = []string{routeEnroll}
	}
	return adm
}

// Route patterns serve wires.
const (
	routeEnroll    = "POST /v1/pki/enroll"
	routeRenew     = "POST /v1/pki/renew"
	routeTelemetry = "POST /v1/vehicle/telemetry"
	routeSession   = "GET /v1/vehicle/session"
)

// gatewayRoutes are the endpoint handlers of the three listeners, the
// session handler, which serve closes on shutdown (its connections are
// hijacked: the HTTP server does not drain them), and the pipeline, which
// serve closes after them so that its accepted-frame summaries are recorded
// before the store closes.
type gatewayRoutes struct {
	vehicle, tms, ops server.Routes
	session           *session.Handler
	pipeline          *ingest.Pipeline
	// commands is the command service (deliveries and answers on the
	// session; the TMS API's decisions).
	commands *command.Service
	// incidents is the incident manager: the detect.Reporter of the
	// detection engine (serve_incidents.go).
	incidents *incident.Manager
}

// routes builds the endpoint handlers of the three listeners. The vehicle
// session is tracked through the admission (server.HijackTracker), so a
// revocation or suspension closes it with its typed close code. The
// pipeline's key cache follows the registry change feed on bg.
func (g *gatewayPKI) routes(bg context.Context, cfg config.Config, e *stateEnv, vs *vehicleSide, access *tmsAccess, logKey *audit.LogKey,
	reg prometheus.Registerer) (*gatewayRoutes, error) {
	icfg, err := ingestConfig(cfg)
	if err != nil {
		return nil, err
	}
	pipeline, err := ingest.New(icfg, ingest.Deps{Store: e.st, Events: e.bus, Metrics: reg, Secrets: vs.secrets, Log: e.log, ETAs: e.st})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = pipeline.Close()
		}
	}()
	go pipeline.RunKeyFeed(bg, e.log)
	limiter := ratelimit.New(ratelimit.Config{PerSecond: float64(cfg.Telemetry.RatePerSecond), Burst: cfg.Telemetry.Burst})
	api := &enroll.API{CA: g.ca, Store: e.st, Events: e.emitter(),
		RenewLimiter: enroll.NewRenewLimiter(cfg.PKI.RenewPerMinute, cfg.PKI.RenewBurst)}
	var sessRef atomic.Pointer[session.Handler]
	commands, err := newCommandService(cfg, e.st, sessRef.Load)
	if err != nil {
		return nil, err
	}
	stops, err := tracking.New(e.st, nil)
	if err != nil {
		return nil, err
	}
	sess, err := session.New(sessionConfig(cfg),
		session.Deps{Key: vs.keys, Pipeline: pipeline, Events: e.bus, Tracker: server.HijackTracker{},
			Liveness: session.LivenessMonitor(vs.monitor), Limiter: limiter, Metrics: reg, Log: e.log,
			Commands: commands, CommandStore: e.st, CommandKey: vs.cmdKeys, Replica: gatewayID(), Stops: stops})
	if err != nil {
		return nil, err
	}
	sessRef.Store(sess)
	runCommandDelivery(bg, e.st, sess, commands, e.bus, e.log)
	vehicle := server.Routes{
		routeTelemetry: &ingest.BatchHandler{Pipeline: pipeline, Limiter: limiter, Events: e.bus, Peer: pki.Peer},
		routeSession:   sess,
	}
	for p, h := range api.Routes() {
		if p == routeEnroll && !cfg.PKI.Enrollment {
			continue // the placeholder answers 501: enrollment is off
		}
		vehicle[p] = h
	}
	tms := server.Routes{}
	for p, h := range (&ingest.ReadAPI{Store: e.st, Peer: pki.Peer}).Routes() {
		tms[p] = h
	}
	for p, h := range (&liveness.ReadAPI{Monitor: vs.monitor, Peer: pki.Peer, Registry: visibleRegistry{e.st}}).Routes() {
		tms[p] = h
	}
	// The TMS command API (tenders, dispatches, route updates, commands).
	cmdAPI, err := commandAPI(e.st, commands, e.bus, e.log)
	if err != nil {
		return nil, err
	}
	if err := startWebhooks(bg, cfg, e.st, vs.secrets, e.bus, e.log); err != nil { // push (webhooks.go)
		return nil, err
	}
	for p, h := range cmdAPI.Routes() {
		tms[p] = h
	}
	// The audit log, for auditors (scope audit:read).
	for p, h := range (&auditapi.API{Store: e.st, Verifier: logKey.Verifier(), Events: e.bus}).Routes() {
		tms[p] = h
	}
	// Incidents (serve_incidents.go): the manager detection reports to, its
	// escalator, and its API for operators (scopes incidents:read/write).
	incidents, err := startIncidents(bg, cfg, e.st, e.bus, g.ca, sess.NotifyCommands, e.log)
	if err != nil {
		return nil, err
	}
	for p, h := range (&incidentapi.API{Incidents: incidents, Idempotency: e.st, Log: e.log}).Routes() {
		tms[p] = h
	}
	// A route of the policy table without a handler in this release
	// answers 501, behind the guard.
	for p := range authz.Policy {
		if _, ok := tms[p]; !ok {
			tms[p] = http.HandlerFunc(notImplemented)
		}
	}
	tms, err = access.routes(tms)
	if err != nil {
		return nil, err
	}
	crl := g.ca.CRLHandler()
	ocsp := http.StripPrefix("/pki/ocsp", g.ca.OCSPHandler())
	ops := server.Routes{
		"GET /pki/crl":           crl,
		"GET /pki/crl/{file}":    crl,
		"POST /pki/ocsp":         ocsp,
		"GET /pki/ocsp/{req...}": ocsp,
	}
	ok = true
	return &gatewayRoutes{vehicle: vehicle, tms: tms, ops: ops, session: sess, pipeline: pipeline, commands: commands, incidents: incidents}, nil
}
