// Package server runs fifthwheel's three HTTP listeners and the middleware
// every request passes through.
//
//   - vehicle (TLS 1.3): vehicle sessions, telemetry batches, enrollment;
//   - tms (TLS 1.3): the TMS REST API;
//   - ops (plain HTTP, meant for a private network): /livez, /readyz,
//     /metrics, and the routes Deps adds (the CRL and OCSP responder, which
//     are public by nature).
//
// The server owns transport concerns only: TLS version, timeouts, size
// limits, request ids, panic recovery, problem+json for routing errors and
// metrics. What the endpoints do arrives through Deps as handlers; routes a
// later release implements answer 501 not_implemented until then.
//
// # Security model
//
// Every listener sets all four net/http timeouts and a header size limit, so
// a slow or flooding client cannot hold sockets (the slowloris that
// fleet-telemetry was open to). Request bodies are capped by MaxBytesReader:
// an oversize body is answered 413 body_too_large and recorded as a security
// event; over HTTP/2 an answer given before the body was read is sent once
// the rest of the stream has been read and discarded (at most
// maxDrainBytes, drainTimeout), so clients get it whole instead of a reset
// stream, and the connection's other streams go on. /readyz is
// unauthenticated, so its store ping is cached for readyCacheTTL and shared
// by concurrent probes: probing costs the store at most one ping a second.
// TLS listeners refuse anything below TLS 1.3 whatever tls.Config they
// are given. Client certificates are the business of the tls.Config the
// caller supplies (package pki). With Deps.Admission the server finishes
// every TLS handshake itself, with a deadline, before net/http sees the
// connection: it reports each outcome (so refused handshakes become security
// events, not log lines), tracks each admitted connection so it can be cut
// the moment its certificate is revoked (a handler that hijacked it, the
// vehicle session, can register with HijackTracker to close it its own way
// first, with a typed close, within cutOffGrace), serves HTTP/2 and
// HTTP/1.1, and lets
// a connection without a client certificate reach only the routes named
// anonymous (vehicle enrollment); anything else answers 403
// client_certificate_required. Requests without a client certificate are
// limited per source (tls.unauthenticated_requests_per_second; 429
// rate_limited with Retry-After beyond it), and every event about them (the
// anonymous connection, each refusal) carries the peer's source, so that the
// event.Aggregator the caller passes as Deps.Events records a flood per
// source and window; what such events copy from the request (method, path)
// is bounded. A handler panic answers 500 without detail
// and never stops the process. Errors reach clients only as RFC 9457
// problem+json with a stable code; internal causes go to the log.
//
// # Admission: what a peer that has not proven who it is can hold
//
// With Deps.Admission, a peer without a verified certificate can hold only
// bounded resources for a bounded time, and one source (an IPv4 address or
// an IPv6 /64) cannot take another's share:
//
//   - The accept loop never waits: each connection is admitted to its TLS
//     handshake or closed at once, with a reset, when its source already has
//     tls.max_pending_handshakes_per_source handshakes in progress
//     (admission_source_limit) or the listener has maxPendingHandshakes
//     (admission_global_limit). A stalled client therefore delays nobody but
//     itself.
//   - A connection that sends no byte of its ClientHello within
//     tls.client_hello_timeout is closed (tls_client_hello_timeout); any
//     other handshake is bounded by tls.handshake_timeout.
//   - A connection admitted without a client certificate holds one of its
//     source's tls.max_unauthenticated_conns_per_source slots (and one of the
//     listener's maxUnauthenticatedConns) until it closes; beyond them it is
//     closed when its handshake ends (admission_unauthenticated_limit). It
//     is closed once no request has been in progress on it for
//     tls.unauthenticated_idle_timeout (a request in progress is never cut
//     by that deadline), and in any case tls.unauthenticated_max_lifetime
//     after its handshake.
//   - While the gateway is overloaded (Admission.Load: it answers its
//     connected vehicles too slowly), the vehicle listener closes a new
//     connection on accept, before its handshake (admission_overloaded),
//     beyond the sessions the gateway can still serve in time or beyond
//     overloadHandshakesPerCPU handshakes in progress per CPU: a refusal
//     costs an accept and a close, not a TLS handshake, and a reconnect
//     storm cannot take the CPU the connected trucks' acks need.
//   - Per-source state lives only while a source has a handshake in
//     progress or a certificate-less connection open.
//
// Every refusal is counted (fifthwheel_admission_refused_total{listener,
// reason}) and recorded as an event through Server.emitUnauthenticated, the
// one path for events about unauthenticated peers: each carries its source,
// so the event.Aggregator the gateway puts in front of the bus records them
// per source and window rather than one by one. Refusals on accept are
// queued for recording (at most maxQueuedUnauthenticatedEvents), so a slow
// event sink never stalls accepting. These bounds stop one host; many
// sources together are bounded only by the listener-wide caps, and call for
// network-level controls in front of the gateway.
//
// Routing uses Go 1.22 ServeMux patterns. Metrics label requests by
// listener, registered route pattern (or "unmatched") and status, so label
// values are bounded by the code, never by what clients send.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
)

// Listener names one of the three listeners.
type Listener string

// The listeners.
const (
	Vehicle Listener = "vehicle"
	TMS     Listener = "tms"
	Ops     Listener = "ops"
)

// Pinger is what readiness needs from the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Routes maps Go 1.22 ServeMux patterns ("POST /v1/tenders",
// "GET /v1/vehicles/{id}") to handlers on one listener. A route whose path
// equals a placeholder's replaces the placeholder.
type Routes map[string]http.Handler

// BuildInfo describes the running binary, for the build-info metric.
type BuildInfo struct {
	Version   string
	Commit    string
	GoVersion string
}

// Deps are the live objects the server works with; the configuration
// (config.Config) stays data only.
type Deps struct {
	// Log receives request and lifecycle logs; nil means slog.Default().
	Log *slog.Logger
	// Store answers /readyz (a ping at most readyCacheTTL old). Required.
	Store Pinger
	// Events records request-level security events (oversize bodies,
	// anonymous connections, refused requests without a certificate).
	// Required. The gateway passes an event.Aggregator in front of its bus,
	// so the events that carry a Source (about peers that proved nothing)
	// are aggregated per source and window.
	Events event.Emitter
	// Registry receives the server's metrics and is served at /metrics.
	// Required; one per server, never the global registry.
	Registry *prometheus.Registry
	// VehicleTLS and TMSTLS configure the TLS listeners: certificate source,
	// client-certificate policy and verification (package pki). Required.
	// They are cloned and their MinVersion forced to TLS 1.3.
	VehicleTLS *tls.Config
	TMSTLS     *tls.Config
	// VehicleRoutes, TMSRoutes and OpsRoutes are the endpoint handlers.
	VehicleRoutes Routes
	TMSRoutes     Routes
	OpsRoutes     Routes
	// Build is exported as the fifthwheel_build_info metric.
	Build BuildInfo
	// Now is the clock of the /readyz cache; nil means time.Now (tests
	// set it).
	Now func() time.Time
	// Admission, when set, makes the server complete, report and track
	// every TLS handshake itself (see Admission), serve HTTP/2 and HTTP/1.1,
	// and refuse requests without a verified client certificate except on
	// the anonymous routes. Without it the TLS listeners are plain
	// http.Server TLS (tests of the transport alone).
	Admission *Admission
}

// Addrs are the bound listener addresses.
type Addrs struct {
	Vehicle string `json:"vehicle"`
	TMS     string `json:"tms"`
	Ops     string `json:"ops"`
}

// Server is the gateway's HTTP front. Create it with New, bind with Listen,
// then Serve.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	ready    *readiness
	events   event.Emitter
	metrics  *httpMetrics
	draining atomic.Bool
	// unauthenticated limits requests without a client certificate per
	// source (see requireClientCert).
	unauthenticated *ratelimit.Limiter

	listeners []*listener
}

type listener struct {
	name      Listener
	addr      string
	srv       *http.Server
	tls       bool
	ln        net.Listener
	admit     *Admission     // nil: http.Server does the handshake
	anonymous bool           // admit connections without a client certificate
	gate      *admissionGate // with admit: the per-source admission bounds
}

// New validates cfg and deps and builds the three servers. It binds
// nothing; call Listen.
func New(cfg config.Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: invalid configuration: %w", err)
	}
	switch {
	case deps.Store == nil:
		return nil, errors.New("server: Deps.Store is required")
	case deps.Events == nil:
		return nil, errors.New("server: Deps.Events is required")
	case deps.Registry == nil:
		return nil, errors.New("server: Deps.Registry is required")
	case deps.Admission != nil && (deps.Admission.Report == nil || deps.Admission.Track == nil || deps.Admission.HandshakeTimeout <= 0):
		return nil, errors.New("server: Deps.Admission needs Report, Track and a HandshakeTimeout")
	}
	vtls, err := tls13(deps.VehicleTLS, Vehicle)
	if err != nil {
		return nil, err
	}
	ttls, err := tls13(deps.TMSTLS, TMS)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	m, err := newHTTPMetrics(deps.Registry, deps.Build)
	if err != nil {
		return nil, err
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{cfg: cfg, log: log, ready: &readiness{store: deps.Store, now: now}, events: deps.Events, metrics: m,
		unauthenticated: ratelimit.New(ratelimit.Config{PerSecond: float64(cfg.TLS.UnauthenticatedRequestsPerSecond),
			Burst: cfg.TLS.UnauthenticatedBurst, MaxKeys: maxUnauthenticatedSources})}

	for _, l := range []struct {
		name   Listener
		addr   string
		tls    *tls.Config
		routes Routes
	}{
		{Vehicle, cfg.Listen.Vehicle, vtls, deps.VehicleRoutes},
		{TMS, cfg.Listen.TMS, ttls, deps.TMSRoutes},
		{Ops, cfg.Listen.Ops, nil, s.opsRoutes(deps.Registry, deps.OpsRoutes)},
	} {
		var gate map[string]bool // nil: no client-certificate gate
		var anonymous bool
		if deps.Admission != nil && l.tls != nil {
			gate = map[string]bool{}
			for _, p := range deps.Admission.Anonymous[l.name] {
				if _, ok := l.routes[p]; !ok {
					return nil, fmt.Errorf("server: anonymous route %q is not a %s route", p, l.name)
				}
				gate[p], anonymous = true, true
			}
			l.tls = admissionTLS(l.tls, anonymous)
		}
		h, err := s.handler(l.name, l.routes, gate)
		if err != nil {
			return nil, err
		}
		srv := &http.Server{
			Handler:           h,
			TLSConfig:         l.tls,
			ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
			ReadTimeout:       cfg.HTTP.ReadTimeout,
			WriteTimeout:      cfg.HTTP.WriteTimeout,
			IdleTimeout:       cfg.HTTP.IdleTimeout,
			MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		ln := &listener{name: l.name, addr: l.addr, srv: srv, tls: l.tls != nil}
		if gate != nil {
			ln.admit, ln.anonymous = deps.Admission, anonymous
			ln.gate = newAdmissionGate(cfg.TLS.MaxPendingHandshakesPerSource, cfg.TLS.MaxUnauthenticatedConnsPerSource)
			if l.name == Vehicle {
				ln.gate.load = deps.Admission.Load
				ln.gate.maxOverloadPending = overloadHandshakesPerCPU * runtime.GOMAXPROCS(0)
			}
			if err := registerGate(deps.Registry, l.name, ln.gate); err != nil {
				return nil, err
			}
			srv.ConnContext = connContext
		}
		s.listeners = append(s.listeners, ln)
	}
	return s, nil
}

// tls13 clones c and forces TLS 1.3 as the minimum.
func tls13(c *tls.Config, name Listener) (*tls.Config, error) {
	if c == nil {
		return nil, fmt.Errorf("server: Deps TLS config for the %s listener is required", name)
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return nil, fmt.Errorf("server: the %s listener's TLS config has no certificate", name)
	}
	c = c.Clone()
	c.MinVersion = tls.VersionTLS13 // docs/ARCHITECTURE.md, Defaults: TLS 1.3 only, not configurable below
	if c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13 {
		c.MaxVersion = 0
	}
	return c, nil
}

// Listen binds the three listeners. On error, none stays bound.
func (s *Server) Listen() error {
	var lc net.ListenConfig
	for i, l := range s.listeners {
		ln, err := lc.Listen(context.Background(), "tcp", l.addr)
		if err != nil {
			for _, prev := range s.listeners[:i] {
				_ = prev.ln.Close()
				prev.ln = nil
			}
			return fmt.Errorf("listen for %s on %s: %w", l.name, l.addr, err)
		}
		l.ln = ln
		s.log.Info("listening", slog.String("listener", string(l.name)),
			slog.String("addr", ln.Addr().String()), slog.Bool("tls", l.tls))
	}
	return nil
}

// Addrs returns the bound addresses; empty before Listen.
func (s *Server) Addrs() Addrs {
	var a Addrs
	for _, l := range s.listeners {
		if l.ln == nil {
			continue
		}
		switch l.name {
		case Vehicle:
			a.Vehicle = l.ln.Addr().String()
		case TMS:
			a.TMS = l.ln.Addr().String()
		case Ops:
			a.Ops = l.ln.Addr().String()
		}
	}
	return a
}

// Close releases the bound listeners of a server that will not Serve (an
// error between Listen and Serve). Serve closes them itself.
func (s *Server) Close() error {
	var errs []error
	for _, l := range s.listeners {
		if l.ln != nil {
			errs = append(errs, l.ln.Close())
			l.ln = nil
		}
	}
	return errors.Join(errs...)
}

// Serve serves on the bound listeners until ctx is done or a listener fails,
// then shuts down gracefully: /readyz turns 503, the vehicle and TMS
// listeners stop accepting and their in-flight requests get
// http.shutdown_timeout to finish before their connections are closed; the
// ops listener stops last. It returns the listener failure, if any; a
// shutdown asked for through ctx returns nil. Serve does not close the store
// or the event sinks: their owner does, after Serve returns.
//
// Hijacked connections (vehicle WebSocket sessions) are not tracked by
// http.Server.Shutdown; their owners close them on ctx.
func (s *Server) Serve(ctx context.Context) error {
	for _, l := range s.listeners {
		if l.ln == nil {
			return errors.New("server: Serve called before Listen")
		}
	}
	errc := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		go func() {
			var err error
			switch {
			case l.admit != nil:
				err = l.srv.Serve(newAdmitListener(s, l.ln, l))
			case l.tls:
				err = l.srv.ServeTLS(l.ln, "", "")
			default:
				err = l.srv.Serve(l.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("%s listener: %w", l.name, err)
			}
			errc <- err
		}()
	}

	var failed error
	pending := len(s.listeners)
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", slog.String("reason", context.Cause(ctx).Error()))
	case failed = <-errc:
		pending--
		s.log.Error("listener failed; shutting down", slog.Any("err", failed))
	}
	s.draining.Store(true)

	// Drain the vehicle and TMS listeners first, then ops: while requests
	// drain, /readyz answers 503 shutting_down and /metrics still serves.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	shutdown := func(l *listener) {
		if err := l.srv.Shutdown(sctx); err != nil {
			s.log.Warn("drain did not finish in time; closing connections",
				slog.String("listener", string(l.name)), slog.Duration("timeout", s.cfg.HTTP.ShutdownTimeout))
			_ = l.srv.Close()
		}
	}
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		if l.name != Ops {
			wg.Go(func() { shutdown(l) })
		}
	}
	wg.Wait()
	for _, l := range s.listeners {
		if l.name == Ops {
			shutdown(l)
		}
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}
