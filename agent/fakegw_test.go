package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/frame"
)

// A scripted fake gateway, built from package frame and crypto/x509 alone
// (the agent's tests, like the agent, import nothing of the gateway). It
// plays the gateway's side of the session and can misbehave in ways the
// real gateway never does: the attacks the agent must survive.

const testVehicle = "truck-1"

type testPKI struct {
	root       *x509.Certificate
	rootPEM    []byte
	serverCert tls.Certificate
	chain      []*x509.Certificate
	tlsKey     *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	return newTestPKIFor(t, testVehicle, time.Time{})
}

// newTestPKIFor is newTestPKI for vehicle id, its certificate valid from
// vehicleFrom if that is set (an hour ago if not).
func newTestPKIFor(t testing.TB, id string, vehicleFrom time.Time) *testPKI {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leaf := func(tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(12*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, k.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	srv, srvKey := leaf(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gw"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	veh, vehKey := leaf(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: id},
		URIs: []*url.URL{{Scheme: "urn", Opaque: "fifthwheel:vehicle:" + id}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if !vehicleFrom.IsZero() {
		tmpl := *veh
		tmpl.NotBefore = vehicleFrom
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, root, vehKey.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		veh, _ = x509.ParseCertificate(der)
	}
	return &testPKI{root: root, rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		serverCert: tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey, Leaf: srv},
		chain:      []*x509.Certificate{veh}, tlsKey: vehKey}
}

// fakeGW is the gateway: a TLS server requiring the vehicle's client
// certificate, whose session handler runs script for each connection.
type fakeGW struct {
	t       testing.TB
	pki     *testPKI
	srv     *httptest.Server
	key     ed25519.PrivateKey
	signer  frame.Signer
	kid     string
	pubPEM  []byte
	vehicle frame.Verifier // the vehicle's frame key
	// The gateway's command key, pinned in the agent as its command key.
	cmdSigner frame.Signer
	cmdKID    string
	cmdPubPEM []byte
	seq       atomic.Uint64
	sessions  atomic.Int32
	script    func(c *fakeConn)
	// batch, if set, serves the batch path (set before the agent runs).
	batch func(w http.ResponseWriter, r *http.Request)

	// refuse answers this many upgrade attempts with 503 gateway_overloaded
	// and Retry-After: retryAfter; attempts records when each came.
	refuse     atomic.Int32
	mu         sync.Mutex
	retryAfter string
	attempts   []time.Time
}

func newFakeGW(t testing.TB, vehicleKey ed25519.PublicKey, script func(c *fakeConn)) *fakeGW {
	t.Helper()
	g := &fakeGW{t: t, pki: newTestPKI(t), script: script}
	_, g.key, _ = ed25519.GenerateKey(rand.Reader)
	g.signer, _ = frame.NewEd25519Signer(g.key)
	der, _ := x509.MarshalPKIXPublicKey(g.key.Public())
	g.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	g.kid, _ = GatewayKeyID(g.pubPEM)
	g.vehicle, _ = frame.NewEd25519PublicKey(vehicleKey)
	_, cmdKey, _ := ed25519.GenerateKey(rand.Reader)
	g.cmdSigner, _ = frame.NewEd25519Signer(cmdKey)
	cder, _ := x509.MarshalPKIXPublicKey(cmdKey.Public())
	g.cmdPubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: cder})
	g.cmdKID, _ = GatewayCommandKeyID(g.cmdPubPEM)
	pool := x509.NewCertPool()
	pool.AddCert(g.pki.root)
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == TelemetryPath && g.batch != nil {
			g.batch(w, r)
			return
		}
		g.mu.Lock()
		g.attempts = append(g.attempts, time.Now())
		retryAfter := g.retryAfter
		g.mu.Unlock()
		if g.refuse.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"about:blank","status":503,"code":"gateway_overloaded"}`))
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		n := g.sessions.Add(1)
		c := &fakeConn{g: g, ws: ws, n: int(n)}
		defer ws.CloseNow()
		g.script(c)
	}))
	g.srv.TLS = &tls.Config{Certificates: []tls.Certificate{g.pki.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS13}
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	return g
}

// fakeConn is one session, seen from the fake gateway.
type fakeConn struct {
	g     *fakeGW
	ws    *websocket.Conn
	n     int // 1 for the first session
	hello []byte
	nonce []byte // the latest challenge

	// signer and kid, when set, sign this connection's frames instead of
	// the gateway's key (a key rotation in the middle of a session).
	signer frame.Signer
	kid    string

	// wmu makes signing and writing one step, so frames signed by two
	// goroutines reach the vehicle in seq order.
	wmu sync.Mutex
}

// sendWith signs (with make) and writes one message, in seq order with
// every other send.
func (c *fakeConn) sendWith(make func() []byte) []byte {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	env := make()
	c.write(env)
	return env
}

func (c *fakeConn) sign(body frame.Body) []byte {
	signer, kid := c.g.signer, c.g.kid
	if c.signer != nil {
		signer, kid = c.signer, c.kid
	}
	env, err := frame.Sign(signer, kid, &frame.Frame{VehicleID: testVehicle, Epoch: 1, Seq: c.g.seq.Add(1),
		TS: time.Now().UTC().Truncate(time.Millisecond), Body: body})
	if err != nil {
		panic(err)
	}
	return env
}

func (c *fakeConn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b) == nil
}

func (c *fakeConn) send(body frame.Body) []byte {
	return c.sendWith(func() []byte { return c.sign(body) })
}

// read returns the next vehicle frame, verified; nil when the connection
// ends.
func (c *fakeConn) read() *frame.Frame {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil
	}
	env, err := frame.ParseEnvelope(data)
	if err != nil || env.Verify(c.g.vehicle) != nil {
		panic("the agent sent a bad frame")
	}
	f, err := env.DecodeFrame()
	if err != nil || f.VehicleID != testVehicle {
		panic("the agent sent a bad frame")
	}
	return f
}

// handshake plays the gateway's side; false if the vehicle went away.
func (c *fakeConn) handshake() bool {
	f := c.read()
	if f == nil {
		return false
	}
	c.hello = f.Body.(*frame.Hello).Nonce
	if !c.challenge() {
		return false
	}
	c.send(&frame.Ready{Nonce: c.nonce})
	return true
}

// challenge sends a fresh challenge and reads the response.
func (c *fakeConn) challenge() bool {
	c.nonce = make([]byte, 32)
	rand.Read(c.nonce)
	c.send(&frame.Challenge{Nonce: c.nonce, PeerNonce: c.hello})
	for {
		f := c.read()
		if f == nil {
			return false
		}
		if r, ok := f.Body.(*frame.ChallengeResponse); ok {
			if !frame.EqualNonce(r.Nonce, c.nonce) {
				panic("wrong challenge response")
			}
			return true
		}
		// Heartbeats in between go unanswered.
	}
}

// frames plays the gateway's side of a session: the handshake, then fn for
// each frame the vehicle sends, until the vehicle goes away or fn returns
// false, which drops the link.
func (c *fakeConn) frames(fn func(f *frame.Frame) bool) {
	if !c.handshake() {
		return
	}
	for {
		f := c.read()
		if f == nil || !fn(f) {
			return
		}
	}
}

// heartbeats is frames for the vehicle's heartbeats; other frames go
// unanswered.
func (c *fakeConn) heartbeats(fn func(f *frame.Frame, hb *frame.Heartbeat) bool) {
	c.frames(func(f *frame.Frame) bool {
		hb, ok := f.Body.(*frame.Heartbeat)
		return !ok || fn(f, hb)
	})
}

func ackOf(f *frame.Frame) *frame.Ack { return &frame.Ack{AckEpoch: f.Epoch, AckSeq: f.Seq} }

// testAV stops at once.
type testAV struct {
	mu      sync.Mutex
	stops   int
	resumes int
}

func (a *testAV) BeginStop(Reason) { a.mu.Lock(); a.stops++; a.mu.Unlock() }
func (a *testAV) Stopped() bool    { return true }
func (a *testAV) Resume()          { a.mu.Lock(); a.resumes++; a.mu.Unlock() }

func (a *testAV) resumed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resumes
}

type events struct {
	mu  sync.Mutex
	evs []Event
}

func (e *events) add(ev Event) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *events) of(kind EventKind) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.evs {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// newTestAgent returns an agent for g (not running) with a fast heartbeat.
func newTestAgent(t testing.TB, g *fakeGW, frameKey ed25519.PrivateKey) (*Agent, *testAV, *events) {
	t.Helper()
	return newTestAgentWith(t, g, frameKey, nil)
}

// newTestAgentWith is newTestAgent with mod applied to its configuration.
func newTestAgentWith(t testing.TB, g *fakeGW, frameKey ed25519.PrivateKey, mod func(*Config)) (*Agent, *testAV, *events) {
	t.Helper()
	return newTestAgentHandling(t, g, frameKey, mod, nil)
}

// newTestAgentHandling is newTestAgentWith with h as the command handler.
func newTestAgentHandling(t testing.TB, g *fakeGW, frameKey ed25519.PrivateKey, mod func(*Config), h CommandHandler) (*Agent, *testAV, *events) {
	t.Helper()
	av, evs := &testAV{}, &events{}
	cfg := Config{
		GatewayURL:         g.srv.URL,
		GatewayCAPEM:       g.pki.rootPEM,
		GatewayFrameKeys:   []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}},
		GatewayCommandKeys: []GatewayCommandKey{{PublicKeyPEM: g.cmdPubPEM}},
		HeartbeatInterval:  500 * time.Millisecond,
		StateDir:           t.TempDir(),
		ReconnectMin:       20 * time.Millisecond,
		ReconnectMax:       50 * time.Millisecond,
		DisableRenewal:     true,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg, Identity{Chain: g.pki.chain, TLSKey: g.pki.tlsKey, FrameKey: frameKey, FrameKID: "k-test"},
		Deps{SafeStater: av, OnEvent: evs.add, CommandHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	return a, av, evs
}

func run(t testing.TB, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func frameKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}
