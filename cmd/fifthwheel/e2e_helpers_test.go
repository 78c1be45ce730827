package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/gwkey"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/server"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// End-to-end helpers: a real `fifthwheel serve` runs in-process (run(), the
// same code path as the binary) on 127.0.0.1:0 listeners, and the CLI runs
// in-process too, against the same data directory or PostgreSQL schema.
//
// Parallel tests: most of these tests wait (blackouts, comm-loss timers,
// polls) rather than compute, so the ones that share nothing call
// t.Parallel(): each has its own temp directory, 127.0.0.1:0 listeners and
// PostgreSQL schema. NOTIFY is per database, not per schema, so parallel
// gateways on one database hear each other's notifications; a notification
// only wakes a re-read of the gateway's own schema, so it costs a poll and
// changes no outcome. A test stays sequential (Go runs those first, alone)
// when it sets a package-level hook (drillTargetHook, demoFleetHook,
// serveUnaggregated), saturates the CPU (a flood), or asserts a time bound
// a neighbour's load could break (revocationSLA, accessRefusalSLA,
// admission deadlines, overload latency); such tests say so.

// syncBuf is a goroutine-safe buffer for a command's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliResult is one in-process CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs one fifthwheel command line in-process.
func cli(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	var out, errb syncBuf
	code := run(context.Background(), args, &out, &errb, env)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustCLI runs a command that must succeed and returns its stdout.
func mustCLI(t testing.TB, env []string, args ...string) string {
	t.Helper()
	r := cli(t, env, args...)
	if r.code != 0 {
		t.Fatalf("fifthwheel %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// gateway is a serve running in-process, or as a process of its own
// (startGatewayProcess).
type gateway struct {
	t     testing.TB
	data  string
	state []string // --data/--store flags naming its state, for CLI calls
	env   []string
	addrs server.Addrs
	logs  *syncBuf
	stop  func()
	proc  *os.Process // the serve process, when it runs as one
	exit  <-chan int  // its exit code, once it has ended
}

// serveArgs is the command line of `serve --dev` on 127.0.0.1:0 listeners
// with the state flags and extra flags (a later --listen-* wins).
func serveArgs(state []string, extra []string) []string {
	args := append([]string{"serve", "--dev", "--listen-vehicle", "127.0.0.1:0", "--listen-tms", "127.0.0.1:0",
		"--listen-ops", "127.0.0.1:0"}, state...)
	return append(args, extra...)
}

// startGateway runs `serve --dev` with the given state flags (--data DIR,
// and --store URL for PostgreSQL) and extra flags, and waits until it is
// ready. It stops when the test ends.
func startGateway(t testing.TB, data string, state []string, env []string, extra ...string) *gateway {
	t.Helper()
	args := serveArgs(state, extra)
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{t: t, data: data, state: state, env: env, logs: &syncBuf{}}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, g.logs, env) }()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d:\n%s", code, g.logs.String())
				}
			case <-time.After(30 * time.Second):
				t.Errorf("serve did not stop")
			}
		})
	}
	t.Cleanup(g.stop)
	g.waitReady(done)
	return g
}

// buildFifthwheel builds the fifthwheel command, as a user would (go build,
// no -race, whatever flags the test runs with), and returns its path. A
// race-built gateway is not one to crash-test: under -race the embedded
// SQLite (C translated to Go, every memory access instrumented) commits
// about 50 frames/s on a 2-core machine, so heartbeats starve and the
// gateway is killed while it is idle waiting for its writer, not mid-append.
func buildFifthwheel(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fifthwheel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startGatewayProcess is startGateway with serve in a process of its own,
// the binary bin (buildFifthwheel), so that a test can kill it (kill). The
// process gets the test's environment without its FIFTHWHEEL_* variables,
// then env. It stops (SIGTERM) when the test ends.
func startGatewayProcess(t testing.TB, bin, data string, state []string, env []string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, data: data, state: state, env: env, logs: &syncBuf{}}
	// A serve.addrs left by a killed serve names dead listeners.
	if err := os.Remove(filepath.Join(data, addrsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, serveArgs(state, extra)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIFTHWHEEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = io.Discard, g.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.proc = cmd.Process
	done := make(chan int, 1)
	g.exit = done
	go func() {
		_ = cmd.Wait()
		done <- cmd.ProcessState.ExitCode() // -1 when killed by a signal
	}()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d:\n%s", code, g.logs.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("serve did not stop")
			}
		})
	}
	t.Cleanup(func() { g.stop() }) // kill replaces g.stop
	g.waitReady(done)
	return g
}

// kill sends SIGKILL to the serve process (startGatewayProcess) and waits
// until it is gone: no shutdown, no flush, as a power cut or the OOM killer.
func (g *gateway) kill() {
	g.t.Helper()
	if g.proc == nil {
		g.t.Fatal("kill: serve runs in-process")
	}
	if err := g.proc.Signal(syscall.SIGKILL); err != nil {
		g.t.Fatal(err)
	}
	select {
	case <-g.exit:
	case <-time.After(10 * time.Second):
		g.t.Fatal("the killed serve is still there")
	}
	g.stop = func() {}
}

// waitReady waits until serve has written its listeners' addresses and
// its ops /readyz answers 200; done receives serve's exit code if it ends.
func (g *gateway) waitReady(done <-chan int) {
	t := g.t
	t.Helper()
	data := g.data
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case code := <-done:
			g.stop = func() {} // nothing left to stop (a process's cleanup calls g.stop)
			t.Fatalf("serve exited %d before it was ready:\n%s", code, g.logs.String())
		default:
		}
		if b, err := os.ReadFile(filepath.Join(data, addrsFile)); err == nil && json.Unmarshal(b, &g.addrs) == nil {
			if resp, err := http.Get("http://" + g.addrs.Ops + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) mustCLI(args ...string) string {
	g.t.Helper()
	return mustCLI(g.t, g.env, append(args, g.state...)...)
}

// roots is the fleet root, what clients trust for the gateway.
func (g *gateway) roots() *x509.CertPool {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.data, "gateway", "ca.pem"))
	if err != nil {
		g.t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		g.t.Fatal("no root in gateway/ca.pem")
	}
	return p
}

// issue issues a client certificate with the CLI into a new directory and
// returns it as a TLS certificate.
func (g *gateway) issue(kind, id string) (tls.Certificate, string) {
	g.t.Helper()
	dir := filepath.Join(g.t.TempDir(), id)
	g.mustCLI("pki", "issue", kind, id, "--out", dir)
	c, err := pki.LoadCredential(dir)
	if err != nil {
		g.t.Fatal(err)
	}
	c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	return c, dir
}

// tlsConfig is a client config trusting the fleet root and presenting c
// (none if c has no certificate).
func (g *gateway) tlsConfig(c tls.Certificate) *tls.Config {
	return clientTLSConfig(g.roots(), c)
}

// clientTLSConfig is a client config trusting roots and presenting c (none
// if c has no certificate).
func clientTLSConfig(roots *x509.CertPool, c tls.Certificate) *tls.Config {
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if len(c.Certificate) > 0 {
		// Present c whatever CAs the server names (crypto/tls would
		// otherwise send no certificate the server cannot verify, as an
		// attacker's client would not).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return tc
}

// client is an HTTP client for one credential (HTTP/2 when the server offers
// it, keep-alive otherwise).
func (g *gateway) client(c tls.Certificate) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: g.tlsConfig(c), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}}
}

// events returns the events with code recorded in the gateway's store.
func (g *gateway) events(code string) []store.EventRow {
	g.t.Helper()
	st, err := store.Open(context.Background(), g.storeConfig())
	if err != nil {
		g.t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Code: code, Limit: store.MaxPage})
	if err != nil {
		g.t.Fatal(err)
	}
	return evs
}

// frames returns vehicle's frame rows in the gateway's store: the record of
// its accepted frames.
func (g *gateway) frames(vehicle string) []store.FrameRecord {
	g.t.Helper()
	st, err := store.Open(context.Background(), g.storeConfig())
	if err != nil {
		g.t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFrames(context.Background(), vehicle, time.Time{}, time.Now().Add(24*time.Hour), store.MaxPage)
	if err != nil {
		g.t.Fatal(err)
	}
	return fs
}

// eventBodies are rows' bodies, for messages.
func eventBodies(rows []store.EventRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r.Body)
	}
	return out
}

// waitEvent waits for an event with code whose body contains want.
func (g *gateway) waitEvent(code, want string) store.EventRow {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range g.events(code) {
			if strings.Contains(string(e.Body), want) {
				return e
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("no %s event containing %q in the store", code, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frameKey is a vehicle's Ed25519 frame-signing key (TEST ONLY, generated
// per test), registered with the CLI.
type frameKey struct {
	kid    string
	signer frame.Signer
	priv   ed25519.PrivateKey
}

func (g *gateway) addFrameKey(vehicle string) frameKey {
	g.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	path := filepath.Join(g.t.TempDir(), vehicle+".pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		g.t.Fatal(err)
	}
	kid := strings.TrimSpace(g.mustCLI("vehicle", "key", "add", vehicle, "--alg", "Ed25519", "--pub", path))
	s, err := frame.NewEd25519Signer(priv)
	if err != nil {
		g.t.Fatal(err)
	}
	return frameKey{kid: kid, signer: s, priv: priv}
}

func telemetryFrame(vehicle string, epoch, seq uint64, ts time.Time) *frame.Frame {
	return &frame.Frame{VehicleID: vehicle, Epoch: epoch, Seq: seq, TS: ts.UTC().Truncate(time.Millisecond), Body: &frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 41.878113, Lon: -87.629799, SpeedMPS: 24.6, HeadingDeg: 271.5, Fix: frame.FixRTK, HDOP: 0.8},
		WheelSpeedMPS: 24.7, OdometerM: 1523467.25, State: frame.StateDriving,
		Health: frame.Health{CPUTempC: 61.5, BatteryV: 27.6, Faults: []string{}}}}
}

// batch signs frames seq from..from+n-1 of vehicle and returns the body.
func (k frameKey) batch(t testing.TB, vehicle string, from, n int, ts time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"frames":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		env, err := frame.Sign(k.signer, k.kid, telemetryFrame(vehicle, 0, uint64(from+i), ts))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(env)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

type batchResponse struct {
	Results []struct {
		Index     int    `json:"index"`
		Verdict   string `json:"verdict"`
		Code      string `json:"code"`
		Duplicate bool   `json:"duplicate"`
	} `json:"results"`
}

// post POSTs a JSON body and returns the status and body.
func post(t testing.TB, c *http.Client, url string, body []byte) (int, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// keepAlive is one raw HTTP/1.1 keep-alive connection, so a test can see the
// moment the server closes it.
type keepAlive struct {
	conn *tls.Conn
	r    *bufio.Reader
	host string
}

func dialKeepAlive(t testing.TB, addr string, tc *tls.Config) (*keepAlive, error) {
	t.Helper()
	tc = tc.Clone()
	tc.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	return &keepAlive{conn: conn, r: bufio.NewReader(conn), host: addr}, nil
}

// post sends one request on the connection and reads the response.
func (k *keepAlive) post(path string, body []byte) (int, []byte, error) {
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, k.host, len(body))
	if _, err := k.conn.Write(append([]byte(req), body...)); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// closed returns a channel that receives the time the server closed the
// connection (a read returning EOF or an error).
func (k *keepAlive) closed() <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		// Any outcome ends the wait: EOF or a reset when the server
		// closes; a stray byte would fail the test's other checks.
		_, _ = k.r.ReadByte()
		ch <- time.Now()
	}()
	return ch
}

// refusedHandshake reports whether a TLS 1.3 connection with tc is refused
// by the server: the client's handshake completes before the server checks
// its certificate, so the refusal shows on the first read.
func refusedHandshake(t testing.TB, addr string, tc *tls.Config) (bool, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return true, err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil // still open: admitted
	}
	return true, err
}

// revokeDirect revokes serial through a store handle and CA of its own, as
// another process would, and returns the time just before the call.
func revokeDirect(t testing.TB, g *gateway, serial string) time.Time {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.Events.File = g.data, "" // events go to the store
	log := newLogger(io.Discard, cfg.Log)
	bus, closeEvents, err := eventBus(cfg, st, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEvents()
	kek, err := pki.LoadKeyFileKEK(g.kekFile())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Load(ctx, g.pkiDir(), pki.Config{}, pki.Deps{KEK: kek, Registry: pki.NewStoreRegistry(st), Events: bus, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := ca.Revoke(ctx, serial, pki.ReasonKeyCompromise, cliActor); err != nil {
		t.Fatal(err)
	}
	return start
}

// storeConfig is the gateway's store.
func (g *gateway) storeConfig() store.Config {
	for i, a := range g.state {
		if a == "--store" {
			return store.Config{URL: g.state[i+1]}
		}
	}
	return store.Config{DataDir: g.data}
}

// pkiDir and kekFile: the CA directory and the development KEK, unless the
// environment moved the CA (FIFTHWHEEL_PKI_DIR, FIFTHWHEEL_PKI_KEK_FILE).
func (g *gateway) pkiDir() string {
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "FIFTHWHEEL_PKI_DIR="); ok {
			return v
		}
	}
	return filepath.Join(g.data, "pki")
}

func (g *gateway) kekFile() string {
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "FIFTHWHEEL_PKI_KEK_FILE="); ok {
			return v
		}
	}
	return filepath.Join(g.data, devKEKFile)
}

// truck is a vehicle running the agent SDK against a gateway; events holds
// what its agent reported (see truckOptions.untilResumed).
type truck struct {
	t      testing.TB
	a      *agent.Agent
	events agentEvents
	// stop stops the agent and waits until it has stopped; restart runs
	// it again with the same identity and state directory.
	stop  func()
	ident agent.Identity
	cfg   agent.Config
	deps  agent.Deps
}

// truckOptions says how startTruck provisions and runs a truck.
type truckOptions struct {
	// issuer issues the truck's certificate and registers its frame key
	// through its CLI; nil means the gateway the truck connects to.
	issuer *gateway
	// agent holds the agent's own settings (heartbeat, reconnect backoff,
	// renewal); startTruck fills in the gateway (URL, CA, the frame keys it
	// publishes) and a fresh state directory.
	agent agent.Config
	// frameKeys, when set, are the gateway frame keys the truck pins
	// instead of every key the gateway publishes.
	frameKeys []agent.GatewayFrameKey
	// untilResumed waits until the gateway has resumed the truck (driving,
	// supervised) and records the agent's events only from then on;
	// otherwise startTruck waits until the truck is connected and records
	// every event.
	untilResumed bool
	// commands is the truck's AV stack for commands (agent.Deps); the
	// truck pins the gateway's published command keys either way.
	commands agent.CommandHandler
	// telemetryAcked, if set, is told of each telemetry frame the gateway
	// acknowledged (agent.Deps.OnTelemetryAcked).
	telemetryAcked func(agent.TelemetryAck)
	// dial, if set, dials the truck's connections (agent.Deps.DialContext):
	// a link the test can cut.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// startTruck issues id's certificate and registers its frame key with the
// CLI, runs an agent against gw until the test ends, and waits as o says.
func startTruck(t testing.TB, gw *gateway, id string, o truckOptions) *truck {
	t.Helper()
	issuer := o.issuer
	if issuer == nil {
		issuer = gw
	}
	cred, _ := issuer.issue("vehicle", id)
	key := issuer.addFrameKey(id)
	var chain []*x509.Certificate
	for _, der := range cred.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	caPEM, err := os.ReadFile(filepath.Join(gw.data, "gateway", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	gwKeys, err := os.ReadFile(filepath.Join(gw.pkiDir(), gwkey.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.agent
	cfg.GatewayURL = "https://" + gw.addrs.Vehicle
	cfg.GatewayCAPEM = caPEM
	if cfg.GatewayFrameKeys, err = agent.ParseGatewayFrameKeys(gwKeys); err != nil {
		t.Fatal(err)
	}
	if o.frameKeys != nil {
		cfg.GatewayFrameKeys = o.frameKeys
	}
	cmdKeys, err := os.ReadFile(filepath.Join(gw.pkiDir(), gwkey.Command.PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayCommandKeys, err = agent.ParseGatewayCommandKeys(cmdKeys); err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()

	tr := &truck{t: t}
	var resumed atomic.Bool
	onEvent := func(ev agent.Event) {
		if !o.untilResumed {
			tr.events.add(ev)
			return
		}
		if ev.Kind == agent.EventResumed {
			resumed.Store(true)
			return
		}
		if resumed.Load() {
			tr.events.add(ev)
		}
	}
	tr.ident = agent.Identity{Chain: chain, TLSKey: cred.PrivateKey.(crypto.Signer), FrameKey: key.priv, FrameKID: key.kid}
	tr.cfg = cfg
	tr.deps = agent.Deps{SafeStater: stopsAtOnce{}, OnEvent: onEvent, CommandHandler: o.commands,
		OnTelemetryAcked: o.telemetryAcked, DialContext: o.dial, Log: slog.New(slog.DiscardHandler)}
	tr.run()
	ready := func() bool { return tr.a.Status().Connected }
	if o.untilResumed {
		ready = resumed.Load
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("the truck was never ready (connected, or resumed by the gateway if asked): %+v", tr.a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tr
}

// run starts the truck's agent; it stops when the test ends or on stop.
func (tr *truck) run() {
	t := tr.t
	var err error
	tr.a, err = agent.New(tr.cfg, tr.ident, tr.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.a.Run(ctx) }()
	var once sync.Once
	tr.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("the truck's agent did not stop")
			}
		})
	}
	t.Cleanup(tr.stop)
}

// restart runs the stopped truck again, with its identity and state
// directory (frame counter, executed-command log), and waits until it is
// connected.
func (tr *truck) restart() {
	tr.t.Helper()
	tr.run()
	deadline := time.Now().Add(30 * time.Second)
	for !tr.a.Status().Connected {
		if time.Now().After(deadline) {
			tr.t.Fatalf("the restarted truck never connected: %+v", tr.a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopsAtOnce is the AV stack of a truck that is parked: a stop is done.
type stopsAtOnce struct{}

func (stopsAtOnce) BeginStop(agent.Reason) {}
func (stopsAtOnce) Stopped() bool          { return true }
func (stopsAtOnce) Resume()                {}

// agentEvents collects an agent's events.
type agentEvents struct {
	mu  sync.Mutex
	evs []agent.Event
}

func (l *agentEvents) add(e agent.Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

func (l *agentEvents) find(k agent.EventKind) []agent.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []agent.Event
	for _, e := range l.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// firstDisconnect waits for the truck's first disconnection and returns it.
func (tr *truck) firstDisconnect() agent.Event {
	tr.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if evs := tr.events.find(agent.EventDisconnected); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			tr.t.Fatal("the truck's session was not closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// token gets an access token for credential c from the TMS listener's
// token endpoint (client_credentials, tls_client_auth: the certificate is
// the client's only authentication), with scope ("" for every scope its
// roles grant).
func (g *gateway) token(c tls.Certificate, scope string) string {
	g.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, err := g.client(c).PostForm("https://"+g.addrs.TMS+"/oauth2/token", form)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.TokenType != "Bearer" {
		g.t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// tmsGet calls a TMS API route with credential c and, if token is not
// empty, the bearer token.
func (g *gateway) tmsGet(c tls.Certificate, token, path string) (*http.Response, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+g.addrs.TMS+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.client(c).Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}
