package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Agent is the vehicle side of fifthwheel: one per truck. Create it with
// New, then call Run; SendTelemetry, SetDrivingState, Mode and Status may
// be called from any goroutine.
type Agent struct {
	cfg     Config
	d       Deps
	vehicle string
	signer  frame.Signer
	kid     string
	gwKeys  map[string]frame.Verifier
	cmdKeys map[string]frame.Verifier
	roots   *x509.CertPool
	base    *url.URL
	counter *Counter
	cmdLog  *commandLog      // the command goroutine's only
	cmdQ    chan commandWork // verified commands for the command goroutine
	httpc   *http.Client     // batch path and renewal: HTTP/2 or HTTP/1.1
	wsc     *http.Client     // the session's WebSocket upgrade: HTTP/1.1
	plain   *http.Client     // CRL fetches: plain HTTP, the CRL is signed
	log     *slog.Logger
	now     func() time.Time
	renewer Renewer
	// nonces is the source of the hello nonces: crypto/rand, replaced only
	// by the tests that replay the session transcript vectors.
	nonces io.Reader

	cred atomic.Pointer[credential]

	mu        sync.Mutex
	wd        *Watchdog
	out       *outbox
	stops     []*pendingStop // ReportStop's, oldest first
	eta       *frame.ETA     // carried in telemetry (SetETA)
	sess      *session
	avState   frame.State
	lastErr   error
	connected time.Time
	hbNow     bool          // a session was just established: heartbeat at once
	wake      chan struct{} // pokes the clock loop

	evMu   sync.Mutex
	evQ    []Event
	evWake chan struct{}

	running atomic.Bool
}

// credential is the TLS identity in use; renewal replaces it.
type credential struct {
	chain []*x509.Certificate
	key   crypto.Signer
	tls   *tls.Certificate
}

func newCredential(chain []*x509.Certificate, key crypto.Signer) *credential {
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, cert := range chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return &credential{chain: chain, key: key, tls: c}
}

// New returns an Agent after validating cfg, the identity and deps. It opens
// the frame counter in cfg.StateDir.
func New(cfg Config, id Identity, deps Deps) (*Agent, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.SafeStater == nil {
		return nil, errors.New("agent: Deps.SafeStater is required")
	}
	vid, err := checkIdentity(id)
	if err != nil {
		return nil, err
	}
	signer, err := frameSigner(id.FrameKey)
	if err != nil {
		return nil, err
	}
	// Sign once now, so a bad kid or a faulty key fails here, not on the
	// road.
	if _, err := frame.Sign(signer, id.FrameKID, &frame.Frame{VehicleID: vid, TS: time.Unix(1e9, 0),
		Body: &frame.Heartbeat{State: frame.StateSafeState}}); err != nil {
		return nil, errors.New("agent: the frame key cannot sign under FrameKID: " + err.Error())
	}
	a := &Agent{cfg: cfg, d: deps, vehicle: vid, signer: signer, kid: id.FrameKID, gwKeys: map[string]frame.Verifier{}, cmdKeys: map[string]frame.Verifier{},
		cmdQ:  make(chan commandWork, maxQueuedCommands),
		roots: x509.NewCertPool(), log: deps.Log, now: deps.Now, nonces: rand.Reader, avState: frame.StateDriving,
		wake: make(chan struct{}, 1), evWake: make(chan struct{}, 1)}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	for _, k := range cfg.GatewayFrameKeys {
		v, _ := parseGatewayKey(k) // validated
		kid := k.KID
		if kid == "" {
			kid, _ = GatewayKeyID(k.PublicKeyPEM)
		}
		a.gwKeys[kid] = v
	}
	for _, k := range cfg.GatewayCommandKeys {
		v, _ := parseGatewayKey(GatewayFrameKey(k)) // validated
		kid := k.KID
		if kid == "" {
			kid, _ = GatewayCommandKeyID(k.PublicKeyPEM)
		}
		a.cmdKeys[kid] = v
	}
	a.roots.AppendCertsFromPEM(cfg.GatewayCAPEM)
	a.base, _ = url.Parse(cfg.GatewayURL)
	a.base.Path = ""
	a.counter, err = OpenCounter(cfg.StateDir, vid, cfg.Epoch)
	if err != nil {
		return nil, err
	}
	a.cmdLog, err = openCommandLog(cfg.CommandStateDir, vid)
	if err != nil {
		return nil, err
	}
	a.cred.Store(newCredential(id.Chain, id.TLSKey))
	a.wd, _ = NewWatchdog(cfg.HeartbeatInterval, cfg.Misses, a.now())
	a.out = newOutbox(cfg.BufferFrames)
	a.httpc = &http.Client{Transport: a.transport(true)}
	a.wsc = &http.Client{Transport: a.transport(false)}
	dial := deps.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: cfg.HandshakeTimeout}).DialContext
	}
	a.plain = &http.Client{Timeout: crlFetchTimeout, Transport: &http.Transport{DialContext: dial, Proxy: nil}}
	a.renewer = deps.Renewer
	if a.renewer == nil {
		a.renewer = httpRenewer{a}
	}
	return a, nil
}

// transport is the mTLS transport to the gateway: with h2, for the batch
// path and renewal (HTTP/2 when the gateway offers it, else HTTP/1.1);
// without, for the session, HTTP/1.1 because it is a WebSocket upgrade.
func (a *Agent) transport(h2 bool) *http.Transport {
	serverName := a.cfg.ServerName
	if serverName == "" {
		serverName = a.base.Hostname()
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    a.roots,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return a.cred.Load().tls, nil
		},
	}
	var dial dialFunc = a.d.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: a.cfg.HandshakeTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	return gatewayTransport(dial, tc, a.cfg.HandshakeTimeout, h2)
}

// VehicleID returns the truck's identity, from its certificate.
func (a *Agent) VehicleID() string { return a.vehicle }

// Certificate returns the leaf certificate in use.
func (a *Agent) Certificate() *x509.Certificate { return a.cred.Load().chain[0] }

// Mode returns the watchdog's mode.
func (a *Agent) Mode() Mode {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wd.Mode()
}

// Status is a snapshot of the agent.
type Status struct {
	Mode      Mode
	State     frame.State // what heartbeats report
	Connected bool
	// Misses is the number of consecutive missed heartbeats.
	Misses int
	// Buffered is the number of telemetry frames not yet acknowledged.
	Buffered int
	// LastError is why the last session or connection attempt ended.
	LastError error
}

// Status returns a snapshot.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Status{Mode: a.wd.Mode(), State: a.stateLocked(), Connected: a.sess != nil, Misses: a.wd.Misses(),
		Buffered: a.out.len(), LastError: a.lastErr}
}

// SetDrivingState sets what the truck reports while the gateway supervises
// it: frame.StateDriving (the default) or frame.StateParked. While stopping
// or in safe state the agent reports that instead.
func (a *Agent) SetDrivingState(s frame.State) error {
	if s != frame.StateDriving && s != frame.StateParked {
		return errors.New("agent: driving state must be driving or parked")
	}
	a.mu.Lock()
	a.avState = s
	a.mu.Unlock()
	return nil
}

func (a *Agent) stateLocked() frame.State {
	switch a.wd.Mode() {
	case ModeStopping:
		return frame.StateStopping
	case ModeSafeState:
		return frame.StateSafeState
	}
	return a.avState
}

// SendTelemetry queues a telemetry frame measured at ts. Its State is
// replaced by stopping or safe_state while the watchdog is in those modes.
// The frame is signed and sent when a session allows: on the session while
// it is fresh, through the batch path once it is older than LiveMaxAge.
// While offline, at most BufferFrames wait; beyond that the oldest is
// dropped (EventTelemetryDropped). t.Ext carries the AV stack's own data
// (make it with frame.MarshalExt or frame.NewExt); it counts toward the
// frame's size, so the buffer holds up to BufferFrames × frame.MaxFrameSize
// bytes when every frame carries a maximal ext. SendTelemetry copies Faults,
// Ext and ETA, so the caller may reuse them once it returns. A frame
// without its own ETA carries the one SetETA set, if any. An error means
// the frame is invalid and was not queued.
func (a *Agent) SendTelemetry(ts time.Time, t frame.Telemetry) error {
	t.Health.Faults = append([]string{}, t.Health.Faults...)
	t.Ext = bytes.Clone(t.Ext)
	ts = ts.UTC().Truncate(time.Millisecond)
	a.mu.Lock()
	if s := a.stateLocked(); s == frame.StateStopping || s == frame.StateSafeState {
		t.State = s
	}
	if t.ETA == nil && a.eta != nil {
		eta := *a.eta
		t.ETA = &eta
	} else if t.ETA != nil {
		eta := *t.ETA
		t.ETA = &eta
	}
	f := &frame.Frame{VehicleID: a.vehicle, TS: ts, Body: &t}
	if err := f.StaticValidate(); err != nil {
		a.mu.Unlock()
		return err
	}
	a.out.add(telemetryItem{ts: ts, body: &t})
	dropped := a.out.takeDropped()
	s := a.sess
	if dropped > 0 {
		a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventTelemetryDropped, Count: dropped}})
	}
	a.mu.Unlock()
	if s != nil {
		s.poke()
	}
	return nil
}

// Run connects to the gateway and keeps the truck supervised until ctx is
// done: it reconnects with backoff, sends heartbeats and telemetry, runs
// the watchdog (which keeps running while offline) and renews the
// certificate. It returns ctx's error, or an error that stops the agent
// (the frame counter failing). Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() { a.dispatchLoop(ctx) })
	wg.Go(func() { a.clockLoop(ctx) })
	wg.Go(func() { a.commandLoop(ctx) })
	if !a.cfg.DisableRenewal {
		wg.Go(func() { a.renewLoop(ctx) })
	}
	err := a.connectLoop(ctx)
	cancel(err)
	wg.Wait()
	a.drainEvents()
	return err
}

// connectLoop keeps one session up.
func (a *Agent) connectLoop(ctx context.Context) error {
	backoff := a.cfg.ReconnectMin
	for ctx.Err() == nil {
		started := a.now()
		err := a.runSession(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrCounterExhausted) {
			return err
		}
		a.mu.Lock()
		a.lastErr = err
		a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventDisconnected, Err: err, Code: codeOf(err)}})
		a.mu.Unlock()
		if a.now().Sub(started) > 2*a.cfg.ReconnectMax {
			backoff = a.cfg.ReconnectMin // it was up a while: start over
		}
		wait := a.reconnectWait(err, backoff)
		backoff = min(2*backoff, a.cfg.ReconnectMax)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

// reconnectWait is how long to wait before dialing again after err, with
// the current backoff: the backoff with jitter; at least
// refusedBackoffFactor × ReconnectMax after a refusal only an operator can
// fix (revoked, expired, not enrolled, suspended); at least the gateway's
// Retry-After.
func (a *Agent) reconnectWait(err error, backoff time.Duration) time.Duration {
	wait := fullJitter(backoff)
	switch KindOf(err) {
	case KindRevoked, KindExpired, KindNotEnrolled, KindSuspended:
		wait = max(wait, refusedBackoffFactor*a.cfg.ReconnectMax)
	}
	var ce *ConnError
	if errors.As(err, &ce) && ce.RetryAfter > wait {
		wait = ce.RetryAfter + fullJitter(a.cfg.ReconnectMin) // the gateway asked; do not all come back at once
	}
	return wait
}

func codeOf(err error) string {
	var ce *ConnError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// fullJitter returns a random duration in [d/2, d].
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)+1))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(n.Int64())
}

// clockLoop runs the heartbeat schedule and the watchdog.
func (a *Agent) clockLoop(ctx context.Context) {
	interval := a.cfg.HeartbeatInterval
	nextHB := a.now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := a.now()
		a.mu.Lock()
		var evs []Event
		if a.hbNow {
			a.hbNow = false
			nextHB = now
		}
		if !now.Before(nextHB) {
			if s := a.sess; s != nil {
				if !s.wantHeartbeat() {
					// The previous one is still waiting to be written.
					evs = append(evs, a.wd.HeartbeatNotSent(now, ReasonSendFailed)...)
				}
			} else {
				evs = append(evs, a.wd.HeartbeatNotSent(now, ReasonLinkDown)...)
			}
			nextHB = nextHB.Add(interval)
			if !nextHB.After(now) {
				nextHB = now.Add(interval)
			}
		}
		evs = append(evs, a.wd.Tick(now)...)
		stopping := a.wd.Mode() == ModeStopping
		a.queueEventsLocked(evs)
		a.mu.Unlock()

		if stopping && a.d.SafeStater.Stopped() {
			a.mu.Lock()
			a.queueEventsLocked(a.wd.Stopped(a.now()))
			a.mu.Unlock()
		}

		a.mu.Lock()
		wakeAt := nextHB
		if w := a.wd.NextWake(); !w.IsZero() && w.Before(wakeAt) {
			wakeAt = w
		}
		if a.wd.Mode() == ModeStopping {
			if p := now.Add(stopPollInterval); p.Before(wakeAt) {
				wakeAt = p
			}
		}
		a.mu.Unlock()
		timer.Reset(max(wakeAt.Sub(a.now()), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-a.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// pokeClock wakes the clock loop (the mode changed).
func (a *Agent) pokeClock() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// queueEventsLocked queues evs for the dispatcher in the order the state
// changed; a.mu is held, so the order is the watchdog's.
func (a *Agent) queueEventsLocked(evs []Event) {
	if len(evs) == 0 {
		return
	}
	a.evMu.Lock()
	a.evQ = append(a.evQ, evs...)
	a.evMu.Unlock()
	select {
	case a.evWake <- struct{}{}:
	default:
	}
}

// dispatchLoop delivers events and SafeStater calls from one goroutine, in
// order, outside the agent's lock.
func (a *Agent) dispatchLoop(ctx context.Context) {
	for {
		a.drainEvents()
		select {
		case <-ctx.Done():
			return
		case <-a.evWake:
		}
	}
}

func (a *Agent) drainEvents() {
	for {
		a.evMu.Lock()
		q := a.evQ
		a.evQ = nil
		a.evMu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, ev := range q {
			switch ev.Kind {
			case EventStopping:
				a.log.Warn("comm loss: starting the safe-state maneuver", slog.String("reason", string(ev.Reason)), slog.Int("misses", ev.Misses))
				a.d.SafeStater.BeginStop(ev.Reason)
			case EventSafeState:
				a.log.Warn("in safe state")
			case EventResumed:
				a.log.Info("resume authorized by the gateway")
				a.d.SafeStater.Resume()
			case EventDisconnected:
				a.log.Info("session ended", slog.Any("err", ev.Err))
			}
			if a.d.OnEvent != nil {
				a.d.OnEvent(ev)
			}
		}
	}
}
