package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
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
	// connection without one is recorded (CodeTLSAnonymous) and every other
	// route refuses it (CodeClientCertRequired). Listeners not named here
	// require a certificate in the handshake, as their config says.
	Anonymous map[Listener][]string
}

// Codes of the admission's own events and refusals.
const (
	// CodeTLSAnonymous: a TLS connection without a client certificate was
	// admitted to a listener's anonymous routes.
	CodeTLSAnonymous = "tls_anonymous"
	// CodeClientCertRequired: a request without a client certificate for a
	// route that needs one.
	CodeClientCertRequired = "client_certificate_required"
)

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

// admitListener accepts TCP connections, completes each TLS handshake in its
// own goroutine (at most maxPendingHandshakes at once), reports and tracks
// it, and hands only admitted connections to http.Server.
type admitListener struct {
	net.Listener
	name      Listener
	cfg       *tls.Config
	adm       *Admission
	anonymous bool
	s         *Server

	ctx    context.Context // cancelled by Close: interrupts handshakes
	cancel context.CancelFunc
	conns  chan net.Conn
	sem    chan struct{}
	once   sync.Once
}

func newAdmitListener(s *Server, ln net.Listener, name Listener, cfg *tls.Config, adm *Admission, anonymous bool) *admitListener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &admitListener{Listener: ln, name: name, cfg: cfg, adm: adm, anonymous: anonymous, s: s,
		ctx: ctx, cancel: cancel, conns: make(chan net.Conn), sem: make(chan struct{}, maxPendingHandshakes)}
	go l.acceptLoop()
	return l
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
		select {
		case l.sem <- struct{}{}:
		case <-l.ctx.Done():
			return
		}
		raw, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
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
		go l.admit(raw)
	}
}

// admit completes one handshake and hands the connection on, or closes it.
func (l *admitListener) admit(raw net.Conn) {
	released := false
	release := func() {
		if !released {
			released = true
			<-l.sem
		}
	}
	defer release()

	tc := &trackedConn{Conn: raw}
	conn := tls.Server(tc, l.cfg)
	hctx, cancel := context.WithTimeout(l.ctx, l.adm.HandshakeTimeout)
	herr := conn.HandshakeContext(hctx)
	cancel()
	release() // the handshake slot; the connection lives on
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(l.ctx), eventTimeout)
	defer ecancel()

	if herr == nil && l.anonymous && len(conn.ConnectionState().PeerCertificates) == 0 {
		if err := l.s.events.Emit(ectx, event.Event{Class: event.ClassAuthentication, Activity: "tls_handshake",
			Severity: event.SeverityInfo, Verdict: event.Accept, Code: CodeTLSAnonymous,
			Attrs: map[string]any{"listener": string(l.name), "remote": raw.RemoteAddr().String()}}); err != nil {
			_ = raw.Close() // no unrecorded connection
			return
		}
		l.deliver(conn)
		return
	}
	p, err := l.adm.Report(ectx, string(l.name), conn, herr)
	if err != nil {
		_ = raw.Close() // refused: no close_notify, no more bytes
		return
	}
	chain := conn.ConnectionState().VerifiedChains[0]
	untrack, err := l.adm.Track(chain, p, string(l.name), tc.cutOff)
	if err != nil {
		return // Track closed it: revoked meanwhile, or revocation data stale
	}
	tc.onClose(untrack)
	l.deliver(conn)
}

func (l *admitListener) deliver(conn *tls.Conn) {
	select {
	case l.conns <- conn:
	case <-l.ctx.Done():
		_ = conn.Close()
	}
}

// trackedConn runs a func (the tracker's untrack) once, when the connection
// is closed by whoever closes it: http.Server, a handler that hijacked it,
// or a failed handshake. When the tracker cuts it off (cutOff), it closes
// the transport, or lets the handler that hijacked it close it its own way
// first (HijackTracker).
type trackedConn struct {
	net.Conn
	mu      sync.Mutex
	closed  bool
	cut     bool              // cutOff has run
	why     string            // cutOff's reason code
	after   func()            // the tracker's untrack
	handler func(code string) // the hijacking handler's own close, if it gave one
}

func (c *trackedConn) onClose(f func()) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		f()
		return
	}
	c.after = f
	c.mu.Unlock()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	f := c.after
	c.after, c.closed = nil, true
	c.mu.Unlock()
	if f != nil {
		f()
	}
	return err
}

// requireClientCert is the route gate of a listener with Admission: a
// request on a connection without a verified client certificate reaches
// only the listener's anonymous routes.
func (s *Server) requireClientCert(w http.ResponseWriter, r *http.Request, info *reqInfo) bool {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	path := r.URL.Path
	if len(path) > maxLoggedPathLen {
		path = path[:maxLoggedPathLen]
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), eventTimeout)
	defer cancel()
	if err := s.events.Emit(ctx, event.Event{Class: event.ClassAuthentication, Activity: "request_refused",
		Severity: event.SeverityLow, Verdict: event.Reject, Code: CodeClientCertRequired,
		Resource: string(info.listener) + ":" + info.route, CorrelationID: info.id,
		Attrs: map[string]any{"listener": string(info.listener), "route": info.route, "method": r.Method,
			"path": path, "remote_ip": remote}}); err != nil {
		s.log.Error("recording client_certificate_required failed", slog.String("request_id", info.id), slog.Any("err", err))
	}
	problem.Write(w, r, problem.New(http.StatusForbidden, CodeClientCertRequired,
		"this endpoint needs a client certificate from the fleet PKI"))
	return false
}
