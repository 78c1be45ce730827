package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
)

// Admission makes the server complete every TLS handshake on the vehicle
// and TMS listeners itself, before net/http sees the connection, so that
// each handshake, refused or accepted, is reported (http.Server would only
// log a failure as text), and each accepted connection is tracked and can
// be closed the moment its certificate is revoked. Package pki supplies both
// functions; the server knows them only through these signatures.
type Admission struct {
	// HandshakeTimeout bounds each handshake. Required.
	HandshakeTimeout time.Duration
	// Report records the outcome of a finished handshake and returns the
	// authenticated principal, or an error to close the connection on
	// (pki.ReportHandshake). err is what HandshakeContext returned.
	Report func(ctx context.Context, listener string, conn *tls.Conn, err error) (principal.Principal, error)
	// Track registers an accepted connection, whose verified chain is chain,
	// until it closes; closeFn closes it, from any goroutine, when its
	// certificate is revoked or its principal cut off, told why by a
	// reason code (pki.ConnTracker.Track). An error means the connection
	// must not be served (Track has closed it).
	Track func(chain []*x509.Certificate, p principal.Principal, listener string, closeFn func(code string)) (untrack func(), err error)
	// Anonymous lists, per listener, the route patterns a client without a
	// certificate may use ("POST /v1/pki/enroll"). On such a listener the
	// TLS config asks for a client certificate without requiring it; a
	// connection without one is recorded (codes.TLSAnonymous) and every other
	// route refuses it (codes.ClientCertificateRequired). Listeners not named here
	// require a certificate in the handshake, as their config says.
	Anonymous map[Listener][]string
	// Load, if set, is asked on the vehicle listener before each new
	// connection's TLS handshake: whether the gateway is overloaded (it
	// answers its connected vehicles too slowly) and, if so, how many more
	// sessions it may take (in the gateway: session.Handler.Load, sized by
	// the sessions it served in time). While overloaded, a connection
	// beyond that room, or beyond overloadHandshakesPerCPU handshakes in
	// progress per CPU, is closed at once with a reset, before it costs a
	// handshake (admission_overloaded); the vehicle dials again after its
	// backoff. Connections already admitted are not touched. Load must not
	// block: the accept loop asks it about every connection.
	Load func() (overloaded bool, room int)
}

// alpn is what the TLS listeners offer: HTTP/2 first (one connection per
// truck carries every request), then HTTP/1.1.
var alpn = []string{"h2", "http/1.1"}

// admissionTLS returns c for a listener the server admits connections to
// itself: ALPN for HTTP/2 and HTTP/1.1 on every per-connection config, TLS
// 1.3 enforced there too, and, when anonymous, client certificates asked
// for but not required (verified when given, exactly as before).
func admissionTLS(c *tls.Config, anonymous bool) *tls.Config {
	c = c.Clone()
	c.NextProtos = alpn
	if anonymous {
		allowAnonymous(c)
	}
	if inner := c.GetConfigForClient; inner != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := inner(hello)
			if err != nil || cc == nil {
				return cc, err
			}
			cc = cc.Clone()
			cc.NextProtos = alpn
			cc.MinVersion = tls.VersionTLS13
			if cc.MaxVersion != 0 && cc.MaxVersion < tls.VersionTLS13 {
				cc.MaxVersion = 0
			}
			if anonymous {
				allowAnonymous(cc)
			}
			return cc, nil
		}
	}
	return c
}

// allowAnonymous relaxes "require a client certificate" to "verify one if
// given", and skips VerifyConnection for a peer that gave none (there is
// nothing to check; the route gate refuses it everywhere but the anonymous
// routes).
func allowAnonymous(c *tls.Config) {
	if c.ClientAuth == tls.RequireAndVerifyClientCert {
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if vc := c.VerifyConnection; vc != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return vc(cs)
		}
	}
}

// admitListener accepts TCP connections, admits or refuses each at once
// through its admissionGate, completes each admitted TLS handshake in its
// own goroutine, reports and tracks it, and hands only admitted
// connections to http.Server. The accept loop never waits on a peer, a
// handshake or the event sink: one source's sockets cannot delay another's.
type admitListener struct {
	net.Listener
	name      Listener
	cfg       *tls.Config
	adm       *Admission
	anonymous bool
	gate      *admissionGate
	s         *Server

	// helloTimeout, idleTimeout and lifetime are tls.client_hello_timeout,
	// tls.unauthenticated_idle_timeout and tls.unauthenticated_max_lifetime.
	helloTimeout, idleTimeout, lifetime time.Duration

	ctx    context.Context // cancelled by Close: interrupts handshakes
	cancel context.CancelFunc
	conns  chan net.Conn
	events chan unauthEvent // refusals on their way to emitUnauthenticated
	once   sync.Once
}

// unauthEvent is an event about a peer from src that has not proven who it
// is, queued for recording.
type unauthEvent struct {
	src string
	ev  event.Event
}

func newAdmitListener(s *Server, ln net.Listener, l *listener) *admitListener {
	ctx, cancel := context.WithCancel(context.Background())
	al := &admitListener{Listener: ln, name: l.name, cfg: l.srv.TLSConfig, adm: l.admit, anonymous: l.anonymous,
		gate: l.gate, s: s, helloTimeout: s.cfg.TLS.ClientHelloTimeout,
		idleTimeout: s.cfg.TLS.UnauthenticatedIdleTimeout, lifetime: s.cfg.TLS.UnauthenticatedMaxLifetime,
		ctx: ctx, cancel: cancel, conns: make(chan net.Conn),
		events: make(chan unauthEvent, maxQueuedUnauthenticatedEvents)}
	go al.acceptLoop()
	go al.recordLoop()
	return al
}

// Accept returns the next admitted connection: a *tls.Conn whose handshake
// is complete, so http.Server's own Handshake call is a no-op.
func (l *admitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting, interrupts handshakes in progress and closes
// connections admitted but not yet taken by Accept.
func (l *admitListener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.Listener.Close()
	})
	return err
}

func (l *admitListener) acceptLoop() {
	var delay time.Duration
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.ctx.Err() != nil {
				_ = l.Close()
				return
			}
			// Out of file descriptors and the like: back off as
			// http.Server does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.s.log.Warn("accept failed; retrying", slog.String("listener", string(l.name)),
				slog.Any("err", err), slog.Duration("retry_in", delay))
			select {
			case <-time.After(delay):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		src := event.SourceOf(raw.RemoteAddr().String())
		if code := l.gate.startHandshake(src); code != "" {
			l.refuse(raw, src, code)
			continue
		}
		go l.admit(raw, src)
	}
}

// admit completes one handshake and hands the connection on, or closes it.
// The handshake holds one of the gate's pending slots for src until it
// ends; a connection admitted without a client certificate then holds one
// of its certificate-less slots until it closes.
func (l *admitListener) admit(raw net.Conn, src string) {
	ended := false
	endHandshake := func() {
		if !ended {
			ended = true
			l.gate.endHandshake(src)
		}
	}
	defer endHandshake()

	c := &serverConn{Conn: raw}
	if l.helloTimeout < l.adm.HandshakeTimeout {
		c.helloBy = time.Now().Add(l.helloTimeout)
	}
	conn := tls.Server(c, l.cfg)
	hctx, cancel := context.WithTimeout(l.ctx, l.adm.HandshakeTimeout)
	herr := conn.HandshakeContext(hctx)
	cancel()
	if herr != nil && c.helloExpired {
		// Not a byte in tls.client_hello_timeout: nothing was negotiated,
		// so there is no handshake to report, only a silent socket.
		endHandshake()
		l.refuse(raw, src, codes.TLSClientHelloTimeout)
		return
	}
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(l.ctx), eventTimeout)
	defer ecancel()

	if herr == nil && l.anonymous && len(conn.ConnectionState().PeerCertificates) == 0 {
		if code := l.gate.startAnonymous(src); code != "" {
			endHandshake()
			l.refuse(raw, src, code)
			return
		}
		w := newIdleWatch(l.idleTimeout, l.lifetime, func(reason string) {
			if first, _ := c.close(); first {
				l.s.metrics.unauthClosed.WithLabelValues(string(l.name), reason).Inc()
			}
		})
		c.idle = w
		c.onClose(func() {
			w.stop()
			l.gate.endAnonymous(src)
		})
		endHandshake()
		if err := l.s.emitUnauthenticated(ectx, src, event.Event{Class: event.ClassAuthentication,
			Activity: "tls_handshake", Severity: event.SeverityInfo, Verdict: event.Accept, Code: codes.TLSAnonymous,
			Attrs: map[string]any{"listener": string(l.name), "remote": raw.RemoteAddr().String()}}); err != nil {
			_ = c.Close() // no unrecorded connection
			return
		}
		l.deliver(conn)
		return
	}
	endHandshake() // the handshake slot; the connection lives on
	p, err := l.adm.Report(ectx, string(l.name), conn, herr)
	if err != nil {
		_ = raw.Close() // refused: no close_notify, no more bytes
		return
	}
	chain := conn.ConnectionState().VerifiedChains[0]
	untrack, err := l.adm.Track(chain, p, string(l.name), c.cutOff)
	if err != nil {
		return // Track closed it: revoked meanwhile, or revocation data stale
	}
	c.onClose(untrack)
	l.deliver(conn)
}

func (l *admitListener) deliver(conn *tls.Conn) {
	select {
	case l.conns <- conn:
	case <-l.ctx.Done():
		_ = conn.Close()
	}
}

// refuse closes a connection admission turned away (at once, with a reset:
// no lingering close for a peer that will not be served), counts it, and
// queues its event without waiting for the sink.
func (l *admitListener) refuse(raw net.Conn, src string, code string) {
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = raw.Close()
	l.s.metrics.refused.WithLabelValues(string(l.name), code).Inc()
	ev := event.Event{Class: event.ClassAuthentication, Activity: "admission", Severity: event.SeverityLow,
		Verdict: event.Reject, Code: code, Attrs: map[string]any{"listener": string(l.name)}}
	switch code {
	case codes.AdmissionSourceLimit:
		ev.Attrs["limit"] = l.gate.maxPendingPerSource
	case codes.AdmissionUnauthenticatedLimit:
		ev.Attrs["limit"] = l.gate.maxAnonPerSource
	case codes.AdmissionOverloaded:
		ev.Attrs["max_handshakes"] = l.gate.maxOverloadPending
	case codes.TLSClientHelloTimeout:
		ev.Activity = "tls_handshake"
		ev.Attrs["timeout_ms"] = l.helloTimeout.Milliseconds()
	}
	select {
	case l.events <- unauthEvent{src: src, ev: ev}:
	default:
		l.s.metrics.eventsDropped.WithLabelValues(string(l.name)).Inc()
	}
}

// recordLoop records queued refusals until the listener closes.
func (l *admitListener) recordLoop() {
	for {
		select {
		case e := <-l.events:
			ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			if err := l.s.emitUnauthenticated(ctx, e.src, e.ev); err != nil {
				l.s.log.Warn("recording an admission refusal failed", slog.String("listener", string(l.name)),
					slog.String("code", e.ev.Code), slog.Any("err", err))
			}
			cancel()
		case <-l.ctx.Done():
			return
		}
	}
}

// emitUnauthenticated records ev, an event about a peer from source
// (event.SourceOf) that has not proven who it is (no verified client
// certificate). Every such event the server emits goes through here: it
// carries the source, so the gateway's event.Aggregator records them per
// source and window (invariant 7, docs/ARCHITECTURE.md), not one per connection.
func (s *Server) emitUnauthenticated(ctx context.Context, source string, ev event.Event) error {
	ev.Source = source
	return s.events.Emit(ctx, ev)
}

// serverConn is what every connection a listener admits is wrapped in,
// beneath crypto/tls:
//   - its first Read waits for the ClientHello's first byte only until
//     helloBy (when set), and records in helloExpired that it did not come;
//   - Close runs the funcs given to onClose (the tracker's untrack, the
//     release of a certificate-less slot) once, whoever closes it:
//     http.Server, a handler that hijacked it, a timer or a failed
//     handshake;
//   - idle, for a connection admitted without a client certificate, is
//     its idle watch, which requests find through connContext;
//   - cutOff is the close function the tracker calls when the connection
//     is cut off (HijackTracker).
//
// helloBy and helloExpired belong to the goroutine that runs the
// handshake.
type serverConn struct {
	net.Conn
	helloBy      time.Time
	helloExpired bool
	idle         *idleWatch

	mu      sync.Mutex
	closed  bool
	after   []func()
	cut     bool              // cutOff has run
	why     string            // cutOff's reason code
	handler func(code string) // the hijacking handler's own close, if it gave one (HijackTracker)
}

func (c *serverConn) Read(b []byte) (int, error) {
	if c.helloBy.IsZero() {
		return c.Conn.Read(b)
	}
	by := c.helloBy
	c.helloBy = time.Time{}
	_ = c.Conn.SetReadDeadline(by)
	n, err := c.Conn.Read(b)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		c.helloExpired = true
		return n, err
	}
	_ = c.Conn.SetReadDeadline(time.Time{}) // the rest is tls.handshake_timeout's
	return n, err
}

// onClose runs f when the connection closes, at once if it has.
func (c *serverConn) onClose(f func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		f()
		return
	}
	c.after = append(c.after, f)
	c.mu.Unlock()
}

func (c *serverConn) Close() error {
	_, err := c.close()
	return err
}

// close closes the connection and runs the onClose funcs; first says
// whether this call was the one that closed it.
func (c *serverConn) close() (first bool, err error) {
	c.mu.Lock()
	first = !c.closed
	after := c.after
	c.after, c.closed = nil, true
	c.mu.Unlock()
	err = c.Conn.Close()
	for _, f := range after {
		f()
	}
	return first, err
}

// idleWatch closes a connection admitted without a client certificate once
// no request has been in progress on it for idle, and in any case lifetime
// after it was admitted. The listener's handler marks each request with
// busy and done, so a request in progress (an enrollment waiting for the
// CA and the store) is never cut by the idle deadline.
type idleWatch struct {
	idle    time.Duration
	closeFn func(reason string)

	mu       sync.Mutex
	inflight int
	idleAt   time.Time // idle from then on, if nothing is in progress
	idleT    *time.Timer
	lifeT    *time.Timer
}

// Reasons an idleWatch closes a connection, for metrics.
const (
	closedIdle     = "idle"
	closedLifetime = "lifetime"
)

func newIdleWatch(idle, lifetime time.Duration, closeFn func(reason string)) *idleWatch {
	w := &idleWatch{idle: idle, closeFn: closeFn, idleAt: time.Now().Add(idle)}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.idleT = time.AfterFunc(idle, w.check)
	w.lifeT = time.AfterFunc(lifetime, func() { closeFn(closedLifetime) })
	return w
}

func (w *idleWatch) check() {
	w.mu.Lock()
	if w.inflight > 0 {
		w.mu.Unlock()
		return // done re-arms the timer
	}
	if wait := time.Until(w.idleAt); wait > 0 {
		w.idleT.Reset(wait)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.closeFn(closedIdle)
}

func (w *idleWatch) busy() {
	w.mu.Lock()
	w.inflight++
	w.mu.Unlock()
}

func (w *idleWatch) done() {
	w.mu.Lock()
	w.inflight--
	if w.inflight == 0 {
		w.idleAt = time.Now().Add(w.idle)
		w.idleT.Reset(w.idle)
	}
	w.mu.Unlock()
}

func (w *idleWatch) stop() {
	w.idleT.Stop()
	w.lifeT.Stop()
}

type serverConnKey struct{}

// connContext is the http.Server ConnContext of a listener with
// Admission: it makes the admitted connection reachable from its requests
// (HTTP/1.1 and HTTP/2 alike), for a certificate-less connection's idle
// watch (trackRequest) and for HijackTracker.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if sc, ok := tc.NetConn().(*serverConn); ok {
			return context.WithValue(ctx, serverConnKey{}, sc)
		}
	}
	return ctx
}

// connOf returns the admitted connection r came on, or nil.
func connOf(r *http.Request) *serverConn {
	c, _ := r.Context().Value(serverConnKey{}).(*serverConn)
	return c
}

// trackRequest marks r as in progress on its connection's idle watch, if
// it has one; call the returned func when r is done.
func trackRequest(r *http.Request) (done func()) {
	c := connOf(r)
	if c == nil || c.idle == nil {
		return func() {}
	}
	w := c.idle
	w.busy()
	return w.done
}

// requireClientCert is the route gate of a listener with Admission. A
// request on a connection without a verified client certificate is first
// held to its source's rate (tls.unauthenticated_requests_per_second and
// tls.unauthenticated_burst, per event.SourceOf its address): beyond it, 429
// rate_limited with Retry-After. Then it reaches only the listener's
// anonymous routes (anonymous: this request's route is one); elsewhere 403
// client_certificate_required. Each refusal records an event that carries
// the source, so the gateway's event aggregator records a flood per source
// and window.
func (s *Server) requireClientCert(w http.ResponseWriter, r *http.Request, info *reqInfo, anonymous bool) bool {
	if verified(r) {
		return true
	}
	source := event.SourceOf(r.RemoteAddr)
	if ok, wait := s.unauthenticated.AllowN(source, 1); !ok {
		s.refuseUnauthenticated(r, info, source, event.ClassAPI, codes.RateLimited)
		pe := problem.New(http.StatusTooManyRequests, codes.RateLimited,
			"too many requests without a client certificate from this address; retry after the Retry-After delay")
		pe.RetryAfter = ratelimit.RetryAfterSeconds(wait)
		problem.Write(w, r, pe)
		return false
	}
	if anonymous {
		return true
	}
	s.refuseUnauthenticated(r, info, source, event.ClassAuthentication, codes.ClientCertificateRequired)
	problem.Write(w, r, problem.New(http.StatusForbidden, codes.ClientCertificateRequired,
		"this endpoint needs a client certificate from the fleet PKI"))
	return false
}

// verified reports whether r came on a connection with a verified client
// certificate.
func verified(r *http.Request) bool { return r.TLS != nil && len(r.TLS.VerifiedChains) > 0 }

// refuseUnauthenticated records the refusal of a request without a client
// certificate from source.
func (s *Server) refuseUnauthenticated(r *http.Request, info *reqInfo, source string, class event.Class, code string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), eventTimeout)
	defer cancel()
	if err := s.emitUnauthenticated(ctx, source, event.Event{Class: class, Activity: "request_refused",
		Severity: event.SeverityLow, Verdict: event.Reject, Code: code,
		Resource: string(info.listener) + ":" + info.route, CorrelationID: info.id,
		Attrs: map[string]any{"listener": string(info.listener), "route": info.route, "method": event.BoundString(r.Method),
			"path": event.BoundString(r.URL.Path), "remote_ip": remoteIP(r)}}); err != nil {
		s.log.Error("recording "+code+" failed", slog.String("request_id", info.id), slog.Any("err", err))
	}
}
