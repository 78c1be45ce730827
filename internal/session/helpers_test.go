package session

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

// gw is a whole gateway vehicle side for tests: a fleet CA on the store, the
// vehicle listener's TLS config (revocation, ConnTracker), the ingest
// pipeline, a liveness monitor, the session handler, the batch path and a
// renewal endpoint, on an httptest TLS server; the CRL on a plain one.
type gw struct {
	t       testing.TB
	st      store.Store
	sink    *event.MemorySink
	bus     *event.Bus
	ca      *pki.CA
	rs      *pki.RevocationSet
	tracker *pki.ConnTracker
	keyDir  string           // the gateway's key set (gwkey), for rotation
	kek     pki.KeyEncrypter // opens it
	keys    *gwkey.Signer    // signs what the gateway sends
	cmdKeys *gwkey.Signer    // signs commands (gwOptions.commands)
	cmds    *command.Service // the command service (gwOptions.commands)
	mon     *liveness.Monitor
	pipe    *ingest.Pipeline
	batches atomic.Int64 // requests to the batch path
	h       *Handler
	srv     *httptest.Server
	ops     *httptest.Server
	url     string
	pkiAPI  *enroll.API
	tlsCfg  *tls.Config
}

type gwOptions struct {
	cfg          Config
	noEventLog   bool // events are discarded, not kept (memory measurements)
	noLiveness   bool
	pipelineWrap func(Pipeline) Pipeline
	pipelineNow  func() time.Time // the pipeline's clock (its key cache, freshness); nil: time.Now
	ingest       ingest.Config    // the pipeline's configuration

	// For the transcript vectors: the gateway's and the pipeline's clock,
	// the source of challenge nonces and the key that signs (instead of
	// the key set's).
	now  func() time.Time
	rand io.Reader
	key  FrameSigner

	// commands wires command delivery: a command key set next to the
	// frame keys and a command service on the store.
	commands bool
	// stops wires stop events (package tracking) on the store.
	stops bool
}

func newGateway(t testing.TB, st store.Store, o gwOptions) *gw {
	t.Helper()
	g := &gw{t: t, st: st, sink: &event.MemorySink{}}
	g.bus = event.NewBus(nil, nil, g.sink)
	if o.noEventLog {
		g.bus = event.NewBus(nil, nil, discard{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	var opsMux http.ServeMux
	g.ops = httptest.NewServer(&opsMux)
	t.Cleanup(g.ops.Close)

	reg := pki.NewStoreRegistry(st)
	g.ca = pkitest.NewCA(t, pki.Config{CRLURL: g.ops.URL + "/pki/crl"}, pki.Deps{Registry: reg, Events: g.bus})
	opsMux.Handle("/pki/crl/", g.ca.CRLHandler())
	var err error
	g.rs, err = pki.NewRevocationSet(reg, pki.RevocationConfig{PollInterval: 50 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { g.rs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	g.tracker = pki.NewConnTracker(g.rs, g.bus)
	t.Cleanup(g.tracker.Stop)

	gwIs, gwKey, err := g.ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: principal.Principal{Kind: principal.Gateway, ID: "gw-1"},
		DNSNames: []string{"gw.fifthwheel.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	gwCert := gwIs.TLSCertificate(gwKey)
	tlsCfg, err := pki.ServerTLSConfig(pki.ListenerConfig{Name: "vehicle", Allowed: []principal.Kind{principal.Vehicle}},
		pki.ListenerDeps{Trust: g.ca.Trust(), Revocations: g.rs, Events: g.bus,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &gwCert, nil }})
	if err != nil {
		t.Fatal(err)
	}

	g.keyDir, g.kek = t.TempDir(), pkitest.NewKEK(t)
	if g.keys, _, err = gwkey.Open(g.keyDir, g.kek); err != nil {
		t.Fatal(err)
	}
	pipeNow := o.pipelineNow
	if pipeNow == nil {
		pipeNow = o.now
	}
	pipe, err := ingest.New(o.ingest, ingest.Deps{Store: st, Events: g.bus, Now: pipeNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pipe.Close() })
	g.pipe = pipe
	var p Pipeline = pipe
	if o.pipelineWrap != nil {
		p = o.pipelineWrap(p)
	}
	deps := Deps{Key: g.keys, Pipeline: p, Events: g.bus, Tracker: chainTracker{g.tracker}, Now: o.now, Rand: o.rand}
	if o.key != nil {
		deps.Key = o.key
	}
	if !o.noLiveness {
		g.mon, err = liveness.New(liveness.Config{Interval: o.cfg.Interval, Misses: o.cfg.Misses}, liveness.Deps{Events: g.bus})
		if err != nil {
			t.Fatal(err)
		}
		mdone := make(chan struct{})
		go func() { _ = g.mon.Run(ctx); close(mdone) }()
		t.Cleanup(func() { cancel(); <-mdone })
		deps.Liveness = LivenessMonitor(g.mon)
	}
	if o.commands {
		if g.cmdKeys, _, err = gwkey.Command.Open(g.keyDir, g.kek); err != nil {
			t.Fatal(err)
		}
		var hp atomic.Pointer[Handler]
		g.cmds, err = command.New(command.Config{}, command.Deps{Store: st, Approvers: allApprove{},
			Queued: func(v string) {
				if h := hp.Load(); h != nil {
					h.NotifyCommands(v)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		deps.Commands, deps.CommandStore, deps.CommandKey, deps.Replica = g.cmds, st, g.cmdKeys, "gw-1"
		defer func() { hp.Store(g.h) }()
	}
	if o.stops {
		if deps.Stops, err = tracking.New(st, nil); err != nil {
			t.Fatal(err)
		}
	}
	g.h, err = New(o.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	peer := func(r *http.Request) (principal.Principal, bool) {
		if r.TLS == nil {
			return principal.Principal{}, false
		}
		p, err := pki.PrincipalFromChains(r.TLS.VerifiedChains)
		return p, err == nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, g.h)
	batch := &ingest.BatchHandler{Pipeline: pipe, Events: g.bus, Peer: peer}
	mux.Handle("POST /v1/vehicle/telemetry", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.batches.Add(1)
		batch.ServeHTTP(w, r)
	}))
	g.pkiAPI = &enroll.API{CA: g.ca, Store: st, Events: g.bus}
	for pattern, h := range g.pkiAPI.Routes() {
		mux.Handle(pattern, h)
	}
	g.srv = httptest.NewUnstartedServer(mux)
	g.srv.TLS = tlsCfg
	g.tlsCfg = tlsCfg
	g.srv.StartTLS()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = g.h.Shutdown(sctx)
		g.srv.Close()
	})
	g.url = g.srv.URL
	return g
}

// allApprove: every principal holds the approver role.
type allApprove struct{}

func (allApprove) HoldsApprover(context.Context, principal.Principal) (bool, error) { return true, nil }

// chainTracker tracks each session in the pki.ConnTracker by its verified
// chain, as the server's admission tracks every connection in the gateway:
// this test server (httptest) has no admission. The gateway's own wiring,
// server.HijackTracker over the admission, is proven end to end by the
// typed-close tests in cmd/fifthwheel.
type chainTracker struct{ t *pki.ConnTracker }

func (c chainTracker) Track(r *http.Request, closeFn func(code string)) (func(), error) {
	p, err := pki.PrincipalFromChains(r.TLS.VerifiedChains)
	if err != nil {
		return nil, err
	}
	return c.t.Track(r.TLS.VerifiedChains[0], p, "vehicle", closeFn)
}

type discard struct{}

func (discard) Write(context.Context, []event.Encoded) error { return nil }

// vehicle is an enrolled test vehicle: registry entry, frame key, certificate.
type vehicle struct {
	id       string
	chain    []*x509.Certificate
	tlsKey   crypto.Signer
	frameKey ed25519.PrivateKey
	kid      string
	signer   frame.Signer
	serial   string
}

func (g *gw) enroll(id string) *vehicle {
	g.t.Helper()
	ctx := context.Background()
	if err := g.st.CreateVehicle(ctx, store.Vehicle{ID: id, Status: "active", CreatedAt: time.Now()}); err != nil && !errors.Is(err, store.ErrConflict) {
		g.t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	kid := ingest.DefaultKID(der)
	if err := g.st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: id, KID: kid, Alg: "Ed25519", Material: der, Status: store.KeyActive, CreatedAt: time.Now()}); err != nil {
		g.t.Fatal(err)
	}
	return g.certify(id, priv, kid)
}

// certify issues a certificate for id, whose frame key is priv under kid.
func (g *gw) certify(id string, priv ed25519.PrivateKey, kid string) *vehicle {
	g.t.Helper()
	is, key, err := g.ca.IssueWithNewKey(context.Background(), pki.IssueRequest{Subject: principal.Principal{Kind: principal.Vehicle, ID: id}}, pki.ECDSAP256)
	if err != nil {
		g.t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, der := range is.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			g.t.Fatal(err)
		}
		chain = append(chain, c)
	}
	s, err := frame.NewEd25519Signer(priv)
	if err != nil {
		g.t.Fatal(err)
	}
	return &vehicle{id: id, chain: chain, tlsKey: key, frameKey: priv, kid: kid, signer: s, serial: is.Record.Serial}
}

func (g *gw) rootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.ca.Root().Raw})
}

// tlsConfig is a client TLS config presenting v's certificate.
func (g *gw) tlsConfig(v *vehicle) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Root())
	cert := &tls.Certificate{PrivateKey: v.tlsKey, Leaf: v.chain[0]}
	for _, c := range v.chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
}

// rawClient is a hand-driven vehicle session, for the attacks the agent
// would never make.
type rawClient struct {
	t     testing.TB
	g     *gw
	v     *vehicle
	c     *websocket.Conn
	epoch uint64
	seq   uint64
	gwSeq uint64
}

func (g *gw) dial(v *vehicle) *rawClient {
	g.t.Helper()
	c, err := g.tryDial(v)
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

func (g *gw) tryDial(v *vehicle) (*rawClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: g.tlsConfig(v)}}
	c, _, err := websocket.Dial(ctx, g.url+Path, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{Subprotocol}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(frame.MaxEnvelopeSize)
	g.t.Cleanup(func() { c.CloseNow() })
	return &rawClient{t: g.t, g: g, v: v, c: c}, nil
}

func (r *rawClient) frame(body frame.Body) *frame.Frame {
	r.seq++
	return &frame.Frame{VehicleID: r.v.id, Epoch: r.epoch, Seq: r.seq, TS: time.Now().UTC().Truncate(time.Millisecond), Body: body}
}

func (r *rawClient) sign(f *frame.Frame) []byte {
	r.t.Helper()
	env, err := frame.Sign(r.v.signer, r.v.kid, f)
	if err != nil {
		r.t.Fatal(err)
	}
	return env
}

func (r *rawClient) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.c.Write(ctx, websocket.MessageText, b)
}

func (r *rawClient) send(body frame.Body) uint64 {
	r.t.Helper()
	f := r.frame(body)
	if err := r.write(r.sign(f)); err != nil {
		r.t.Fatal(err)
	}
	return f.Seq
}

// read returns the next gateway frame, verified with the gateway key, or
// the error (a close) that ended the connection.
func (r *rawClient) read() (*frame.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := r.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	env, err := frame.ParseEnvelope(data)
	if err != nil {
		r.t.Fatalf("gateway sent a bad envelope: %v", err)
	}
	key := r.g.keys.Current()
	if r.g.cmdKeys != nil && env.KID == r.g.cmdKeys.Current().KID() {
		key = r.g.cmdKeys.Current() // a command: under the command key
	}
	if env.KID != key.KID() {
		r.t.Fatalf("gateway frame kid %q", env.KID)
	}
	if err := env.Verify(key.Verifier()); err != nil {
		r.t.Fatalf("gateway frame signature: %v", err)
	}
	f, err := env.DecodeFrame()
	if err != nil {
		r.t.Fatal(err)
	}
	if f.VehicleID != r.v.id {
		r.t.Fatalf("gateway frame for %q", f.VehicleID)
	}
	if f.Seq <= r.gwSeq {
		r.t.Fatalf("gateway seq %d not above %d", f.Seq, r.gwSeq)
	}
	r.gwSeq = f.Seq
	return f, nil
}

func (r *rawClient) expect(kind frame.Kind) *frame.Frame {
	r.t.Helper()
	f, err := r.read()
	if err != nil {
		r.t.Fatalf("want %s, got %v", kind, err)
	}
	if f.Kind() != kind {
		r.t.Fatalf("want %s, got %s", kind, f.Kind())
	}
	return f
}

// closed waits for the gateway to close the connection and returns its
// status and reason.
func (r *rawClient) closed() (websocket.StatusCode, string) {
	r.t.Helper()
	for {
		_, err := r.read()
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

// handshake runs hello → challenge → response → ready and returns the
// challenge nonce.
func (r *rawClient) handshake(state frame.State) []byte {
	r.t.Helper()
	hello := make([]byte, 32)
	rand.Read(hello)
	r.send(&frame.Hello{Nonce: hello, State: state})
	ch := r.expect(frame.KindChallenge).Body.(*frame.Challenge)
	if !frame.EqualNonce(ch.PeerNonce, hello) {
		r.t.Fatal("challenge does not echo the hello nonce")
	}
	r.send(&frame.ChallengeResponse{Nonce: ch.Nonce})
	rd := r.expect(frame.KindReady).Body.(*frame.Ready)
	if !frame.EqualNonce(rd.Nonce, ch.Nonce) {
		r.t.Fatal("ready is not bound to the challenge")
	}
	return ch.Nonce
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func (g *gw) count(code string) int { return len(g.sink.ByCode(code)) }

func (g *gw) waitEvent(code string, n int) {
	g.t.Helper()
	waitFor(g.t, 10*time.Second, "event "+code, func() bool { return g.count(code) >= n })
}

// waitOffline waits for the liveness monitor's vehicle_offline event of
// vehicle, and checks that it names cause and that the vehicle was never
// declared comm_lost.
func (g *gw) waitOffline(t testing.TB, vehicle, cause string) {
	t.Helper()
	of := func(code string) []event.Event {
		var out []event.Event
		for _, ev := range g.sink.ByCode(code) {
			if ev.Resource == "urn:fifthwheel:vehicle:"+vehicle {
				out = append(out, ev)
			}
		}
		return out
	}
	waitFor(t, 5*time.Second, vehicle+" offline", func() bool { return len(of(codes.VehicleOffline)) > 0 })
	if off := of(codes.VehicleOffline); len(off) != 1 || off[0].Attrs["cause"] != cause {
		t.Fatalf("vehicle_offline events %+v, want one with cause %q", off, cause)
	}
	if lost := of(codes.CommLost); len(lost) != 0 {
		t.Fatalf("%s declared comm_lost: %+v", vehicle, lost)
	}
}

// fakeAV is the AV stack's side of the safe-state machine, for tests: it
// stops at once.
type fakeAV struct {
	mu      sync.Mutex
	stops   int
	resumes int
}

func (f *fakeAV) BeginStop(agent.Reason) { f.mu.Lock(); f.stops++; f.mu.Unlock() }
func (f *fakeAV) Stopped() bool          { return true }
func (f *fakeAV) Resume()                { f.mu.Lock(); f.resumes++; f.mu.Unlock() }

func (f *fakeAV) counts() (stops, resumes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stops, f.resumes
}

// eventLog collects agent events.
type eventLog struct {
	mu  sync.Mutex
	evs []agent.Event
}

func (l *eventLog) add(e agent.Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

func (l *eventLog) all() []agent.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]agent.Event(nil), l.evs...)
}

func (l *eventLog) find(kind agent.EventKind) []agent.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []agent.Event
	for _, e := range l.evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// agentFor builds an agent for v against g.
func (g *gw) agentFor(v *vehicle, mod func(*agent.Config, *agent.Deps)) (*agent.Agent, *fakeAV, *eventLog) {
	g.t.Helper()
	av, log := &fakeAV{}, &eventLog{}
	cfg := agent.Config{
		GatewayURL:       g.url,
		GatewayCAPEM:     g.rootPEM(),
		GatewayFrameKeys: []agent.GatewayFrameKey{{KID: g.keys.Current().KID(), PublicKeyPEM: g.keys.Current().PublicKeyPEM()}},
		StateDir:         g.t.TempDir(),
		ReconnectMin:     50 * time.Millisecond,
		ReconnectMax:     200 * time.Millisecond,
	}
	deps := agent.Deps{SafeStater: av, OnEvent: log.add}
	if mod != nil {
		mod(&cfg, &deps)
	}
	a, err := agent.New(cfg, agent.Identity{Chain: v.chain, TLSKey: v.tlsKey, FrameKey: v.frameKey, FrameKID: v.kid}, deps)
	if err != nil {
		g.t.Fatal(err)
	}
	return a, av, log
}

func runAgent(t testing.TB, a *agent.Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// link is a vehicle's network link a test can cut: cut closes every
// connection and refuses new ones until restore.
type link struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newLink() *link { return &link{} }

func (l *link) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil, errors.New("test link: no route to host")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		l.conns = append(l.conns, c)
	}
	return c, err
}

func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *link) restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}
