package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
)

// Handler serves GET /v1/vehicle/session on the vehicle listener. Create it
// with New; it is an http.Handler. Call Shutdown when the server stops:
// hijacked WebSocket connections are not closed by http.Server.Shutdown.
type Handler struct {
	cfg  Config
	d    Deps
	now  func() time.Time
	rand io.Reader
	log  *slog.Logger
	hsRL *ratelimit.Limiter

	// The gateway's sequence towards every vehicle: epoch is the start
	// time in Unix milliseconds, seq counts up from there. Vehicles check
	// it only within a session (strictly increasing), so epochs need not
	// be monotonic across restarts or replicas.
	epoch uint64
	seq   atomic.Uint64

	mu       sync.Mutex
	live     map[string]*conn   // established sessions by vehicle id
	open     map[*conn]struct{} // every upgraded connection
	shutdown bool
	// drained is closed once the handler is shut down and every connection
	// it added has been removed (a count under mu rather than a
	// sync.WaitGroup: a connection upgraded while Shutdown waits must not
	// race with the wait).
	drained   chan struct{}
	drainOnce sync.Once

	mSessions prometheus.Gauge
	mCloses   *prometheus.CounterVec
	mFrame    *prometheus.HistogramVec

	// The moving average time to answer a frame, and when it last moved
	// (Unix ns): the overload signal (limits.go).
	latAvg atomic.Int64
	latAt  atomic.Int64
	// nOpen counts the upgraded connections, established or in their
	// session handshake (len(open), without the lock); healthy is nOpen as
	// it was when the moving average last moved within
	// Config.OverloadLatency: the sessions the gateway demonstrably serves
	// in time.
	nOpen   atomic.Int64
	healthy atomic.Int64
}

// noteLatency folds one frame's time to answer into the moving average.
func (h *Handler) noteLatency(d time.Duration) {
	var avg int64
	for {
		old := h.latAvg.Load()
		avg = old + int64(overloadAlpha*float64(int64(d)-old))
		if h.latAvg.CompareAndSwap(old, avg) {
			break
		}
	}
	h.latAt.Store(h.now().UnixNano())
	if time.Duration(avg) <= h.cfg.OverloadLatency {
		h.healthy.Store(h.nOpen.Load())
	}
}

// overloaded reports whether the gateway answers frames more slowly than
// Config.OverloadLatency now.
func (h *Handler) overloaded() bool {
	if h.cfg.OverloadLatency < 0 {
		return false
	}
	fresh := h.now().UnixNano()-h.latAt.Load() < int64(h.cfg.Interval)
	return fresh && time.Duration(h.latAvg.Load()) > h.cfg.OverloadLatency
}

// Load reports whether the gateway is overloaded (it answers its
// connected vehicles' frames more slowly than Config.OverloadLatency, on
// average) and, if so, how many more sessions it may take: the sessions it
// held when it last answered within that budget, less those it holds now
// (established or in their session handshake).
// While overloaded a new session is admitted only into that room: trucks
// that dropped off may come back, no truck beyond those the gateway served
// in time is added. It takes no lock, so the vehicle listener's admission
// can ask it about every new connection before its TLS handshake (the
// gateway wires it as server.Admission.Load); ServeHTTP asks it again.
func (h *Handler) Load() (overloaded bool, room int) {
	if !h.overloaded() {
		return false, 0
	}
	return true, int(max(0, h.healthy.Load()-h.nOpen.Load()))
}

// New returns a Handler after validating cfg and deps.
func New(cfg Config, d Deps) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if d.Key == nil || d.Pipeline == nil || d.Events == nil || d.Tracker == nil {
		return nil, errors.New("session: Key, Pipeline, Events and Tracker are required")
	}
	if (d.Commands == nil) != (d.CommandStore == nil) || (d.Commands == nil) != (d.CommandKey == nil) ||
		(d.Commands != nil && d.Replica == "") {
		return nil, errors.New("session: Commands, CommandStore, CommandKey and Replica go together")
	}
	h := &Handler{cfg: cfg, d: d, now: d.Now, log: d.Log, live: map[string]*conn{}, open: map[*conn]struct{}{}, drained: make(chan struct{}),
		hsRL: ratelimit.New(ratelimit.Config{PerSecond: cfg.HandshakeRate, Burst: cfg.HandshakeBurst}),
		mSessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fifthwheel_vehicle_sessions",
			Help: "Established vehicle sessions."}),
		mCloses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fifthwheel_vehicle_session_ends_total",
			Help: "Vehicle connections ended, by reason code."}, []string{"code"}),
		mFrame: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fifthwheel_session_frame_seconds",
			Help:    "Time from reading a heartbeat or telemetry frame on a session to writing its ack or nack.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"kind"}),
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.rand = d.Rand; h.rand == nil {
		h.rand = rand.Reader
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.epoch = uint64(h.now().UnixMilli())
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{h.mSessions, h.mCloses, h.mFrame} {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("session: register metrics: %v", err)
			}
		}
	}
	return h, nil
}

// Epoch returns the epoch of the gateway's own frame sequence.
func (h *Handler) Epoch() uint64 { return h.epoch }

// ServeHTTP upgrades an authenticated vehicle to a session and runs it
// until it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var peer principal.Principal
	if r.TLS != nil {
		peer, _ = pki.PrincipalFromChains(r.TLS.VerifiedChains)
	}
	if peer.Kind != principal.Vehicle {
		h.refuse(w, r, peer, problem.New(http.StatusForbidden, codes.Unauthenticated, "a vehicle certificate is required for the session"))
		return
	}
	if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") ||
		!headerHasToken(r.Header, "Upgrade", "websocket") || !headerHasToken(r.Header, "Sec-WebSocket-Protocol", Subprotocol) {
		h.refuse(w, r, peer, problem.New(http.StatusBadRequest, codes.BadUpgrade,
			"the session is a WebSocket upgrade (GET) offering the subprotocol "+Subprotocol))
		return
	}
	if ok, wait := h.hsRL.AllowN(peer.ID, 1); !ok {
		pe := problem.New(http.StatusTooManyRequests, codes.RateLimited, "too many session handshakes for this vehicle; retry after the Retry-After delay")
		pe.RetryAfter = ratelimit.RetryAfterSeconds(wait)
		h.refuse(w, r, peer, pe)
		return
	}
	h.mu.Lock()
	full, down := len(h.open) >= h.cfg.MaxSessions, h.shutdown
	h.mu.Unlock()
	if full || down {
		code, detail := codes.SessionLimit, "the gateway is at its session limit"
		if down {
			code, detail = codes.GatewayShutdown, "the gateway is shutting down"
		}
		pe := problem.New(http.StatusServiceUnavailable, code, detail+"; retry")
		pe.RetryAfter = 1
		h.refuse(w, r, peer, pe)
		return
	}
	if overloaded, room := h.Load(); overloaded && room == 0 {
		pe := problem.New(http.StatusServiceUnavailable, codes.GatewayOverloaded,
			"the gateway is answering its connected vehicles too slowly to take another session; retry after the Retry-After delay")
		pe.RetryAfter = overloadRetryMin + mrand.IntN(overloadRetryJitter+1) // spread the retries
		h.refuse(w, r, peer, pe)
		return
	}

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered the request.
		h.emit(event.Event{Class: event.ClassAuthentication, Activity: "session_handshake", Severity: event.SeverityLow,
			Actor: peer, Resource: peer.String(), Verdict: event.Reject, Code: codes.BadUpgrade,
			Attrs: map[string]any{"remote": r.RemoteAddr}})
		return
	}
	ws.SetReadLimit(frame.MaxEnvelopeSize)
	c := newConn(h, ws, peer, r.RemoteAddr)
	if !h.add(c) {
		c.close(shutdownClose())
	}
	c.tracking.Store(true)
	untrack, err := h.d.Tracker.Track(r, c.trackerClosed)
	c.tracking.Store(false)
	switch {
	case errors.Is(err, pki.ErrRevoked):
		// Revoked between the TLS handshake and now.
		c.close(&closeSpec{status: CloseRevoked, reason: codes.SessionClosedRevoked, emit: true, activity: "session_handshake",
			code: codes.TLSCertRevoked, verdict: event.Reject, sev: event.SeverityHigh, live: DisconnectRevoked})
	case errors.Is(err, pki.ErrRevocationStale):
		c.close(unavailableClose(codes.RevocationStale, "revocation data is not fresh"))
	case err != nil:
		// Nothing could cut this connection off on revocation: fail closed.
		h.log.Error("session: the connection cannot be tracked for revocation", "vehicle", peer.ID, "err", err)
		c.close(unavailableClose(codes.StoreUnavailable, "the session cannot be tracked for revocation"))
	case c.trackerHit.Load() != nil:
		// Cut off while Track was registering the connection; the tracker
		// recorded it.
		untrack()
		c.close(c.trackerHit.Load())
		err = pki.ErrRevoked
	}
	if err != nil {
		c.wait()
		h.remove(c)
		return
	}
	// The request's context ends when ServeHTTP returns; the session
	// outlives it, and keeps none of the request's values.
	c.run(context.Background(), func() { untrack(); h.remove(c) })
}

// refuse answers a request that is not upgraded, with one event.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, peer principal.Principal, pe *problem.Error) {
	h.emit(event.Event{Class: event.ClassAuthentication, Activity: "session_handshake", Severity: event.SeverityMedium,
		Actor: peer, Resource: peer.String(), Verdict: event.Reject, Code: pe.Code,
		Attrs: map[string]any{"remote": r.RemoteAddr, "detail": pe.Detail}})
	h.mCloses.WithLabelValues(pe.Code).Inc()
	problem.Write(w, r, pe)
}

func headerHasToken(hd http.Header, name, token string) bool {
	for _, v := range hd.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (h *Handler) add(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open[c] = struct{}{}
	h.nOpen.Add(1)
	return !h.shutdown
}

func (h *Handler) remove(c *conn) {
	h.mu.Lock()
	delete(h.open, c)
	h.nOpen.Add(-1)
	if h.live[c.peer.ID] == c {
		delete(h.live, c.peer.ID)
		h.mSessions.Dec()
	}
	h.drainedLocked()
	h.mu.Unlock()
}

// drainedLocked closes drained once the handler is shut down and holds no
// connection. h.mu is held.
func (h *Handler) drainedLocked() {
	if h.shutdown && len(h.open) == 0 {
		h.drainOnce.Do(func() { close(h.drained) })
	}
}

// establish makes c the vehicle's session and returns the one it
// supersedes, if any.
func (h *Handler) establish(c *conn) (prev *conn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, open := h.open[c]; !open || h.shutdown {
		return nil, false
	}
	prev = h.live[c.peer.ID]
	h.live[c.peer.ID] = c
	if prev == nil {
		h.mSessions.Inc()
	}
	return prev, true
}

// ErrNoSession reports that the vehicle has no established session here.
var ErrNoSession = errors.New("session: the vehicle has no established session on this gateway")

// Resume asks the vehicle's session to leave safe_state: the gateway sends
// a fresh challenge and, once the vehicle answers it, a resume bound to it
// (event session_resume_sent, attribute by). by is the operator who asked.
// The vehicle ignores the resume unless it is in safe_state with its
// heartbeats answered. ErrNoSession if the vehicle is not connected here.
func (h *Handler) Resume(vehicleID string, by principal.Principal) error {
	h.mu.Lock()
	c := h.live[vehicleID]
	h.mu.Unlock()
	if c == nil {
		return ErrNoSession
	}
	return c.requestResume(by)
}

// Connected reports whether the vehicle has an established session here
// that can still carry a command: not closing, and not declared comm_lost
// by the liveness monitor (the socket of a silent truck stays open until
// the idle timer and the close handshake end; a command queued then waits
// as vehicle_offline instead of being written into it).
func (h *Handler) Connected(vehicleID string) bool {
	h.mu.Lock()
	c := h.live[vehicleID]
	h.mu.Unlock()
	return c != nil && c.usable()
}

// Sessions returns the number of established sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

// Shutdown refuses new sessions, closes every connection with 1001
// gateway_shutdown (each vehicle reconnects, to another replica if there is
// one), and waits for their goroutines until ctx is done.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.shutdown = true
	conns := make([]*conn, 0, len(h.open))
	for c := range h.open {
		conns = append(conns, c)
	}
	h.drainedLocked()
	h.mu.Unlock()
	for _, c := range conns {
		c.close(shutdownClose())
	}
	select {
	case <-h.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit records events with a bounded wait; a sink failure is logged by the
// bus. Session events follow decisions already taken (a close, a refusal):
// there is nothing to fail closed on.
func (h *Handler) emit(evs ...event.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := h.d.Events.Emit(ctx, evs...); err != nil {
		h.log.Warn("session event not recorded", slog.Any("err", err))
	}
}

// nonce returns a fresh challenge nonce from Deps.Rand.
func (h *Handler) nonce() ([]byte, error) {
	n := make([]byte, nonceSize)
	if _, err := io.ReadFull(h.rand, n); err != nil {
		return nil, fmt.Errorf("session: challenge nonce: %v", err)
	}
	return n, nil
}

// sign makes a gateway frame to vehicle with the next gateway seq.
func (h *Handler) sign(vehicle string, body frame.Body) ([]byte, error) {
	return h.d.Key.SignFrame(&frame.Frame{VehicleID: vehicle, Epoch: h.epoch,
		Seq: h.seq.Add(1), TS: h.now().UTC().Truncate(time.Millisecond), Body: body})
}
