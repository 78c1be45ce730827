package session

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// BenchmarkHeartbeatRoundTrip measures heartbeat round trips over one
// session, one at a time: the vehicle signs a heartbeat, the gateway
// verifies it, runs it through the ingest pipeline (made durable: one
// fsync'd commit on SQLite, one commit on PostgreSQL), tells the liveness
// monitor, and answers a signed ack the vehicle reads. Vehicle and gateway
// share the machine's two cores.
//
//	go test ./internal/session -run '^$' -bench HeartbeatRoundTrip -benchtime 3s -count 5
func BenchmarkHeartbeatRoundTrip(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			g := newGateway(b, e.Open(b), gwOptions{cfg: Config{Interval: 3 * time.Second, Misses: 10}})
			v := g.enroll("truck-bench")
			c := g.dial(v)
			c.handshake(frame.StateDriving)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				seq := c.send(&frame.Heartbeat{State: frame.StateDriving})
				f, err := c.read()
				if err != nil || f.Kind() != frame.KindAck || f.Body.(*frame.Ack).AckSeq != seq {
					b.Fatalf("no ack: %v", err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
		})
	}
}

// BenchmarkSessionMemory measures the gateway's memory per connected idle
// vehicle: N vehicles (FW_BENCH_SESSIONS, default 200) hold established
// sessions from a separate client process (so only the gateway's memory is
// counted), and the benchmark reports the growth of the gateway's Go heap
// and stacks, after GC, divided by N. Kernel socket buffers are not
// included. It runs once whatever b.N is.
//
//	FW_BENCH_SESSIONS=1000 go test ./internal/session -run '^$' -bench SessionMemory -benchtime 1x
func BenchmarkSessionMemory(b *testing.B) {
	if os.Getenv("FW_HEAPPROF") != "" {
		runtime.MemProfileRate = 256
	}
	n := 200
	if s := os.Getenv("FW_BENCH_SESSIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	cfg := Config{Interval: 3 * time.Second, Misses: 10, HandshakeBurst: 10, MaxSessions: n + 10}
	g := newGateway(b, storetest.Engines()[0].Open(b), gwOptions{cfg: cfg, noEventLog: true})
	creds := make([]clientCred, n)
	for i := range creds {
		v := g.enroll(fmt.Sprintf("truck-%05d", i))
		creds[i] = credOf(b, v)
	}
	dir := b.TempDir()
	spec := clientSpec{URL: g.url, RootDER: g.ca.Root().Raw, Vehicles: creds}
	specFile := filepath.Join(dir, "spec.json")
	sb, _ := json.Marshal(spec)
	if err := os.WriteFile(specFile, sb, 0o600); err != nil {
		b.Fatal(err)
	}

	before := gatewayMem()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSessionMemoryClient$")
	cmd.Env = append(os.Environ(), "FW_SESSION_CLIENT="+specFile)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "READY") {
			ready = true
			break
		}
	}
	if !ready {
		b.Fatal("client process did not connect its sessions")
	}
	waitFor(b, 30*time.Second, "sessions", func() bool { return g.h.Sessions() == n })
	time.Sleep(500 * time.Millisecond) // let the handshakes' garbage die
	after := gatewayMem()
	if p := os.Getenv("FW_HEAPPROF"); p != "" {
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	per := float64(after.total()-before.total()) / float64(n)
	b.ReportMetric(per, "bytes/session")
	b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-bytes/session")
	b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-bytes/session")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/session")
}

type memSample struct{ heap, stack, goroutines int64 }

func (m memSample) total() int64 { return m.heap + m.stack }

func gatewayMem() memSample {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return memSample{heap: int64(ms.HeapAlloc), stack: int64(ms.StackInuse), goroutines: int64(runtime.NumGoroutine())}
}

type clientSpec struct {
	URL      string
	RootDER  []byte
	Vehicles []clientCred
}

type clientCred struct {
	ID       string
	Chain    [][]byte
	TLSKey   []byte // PKCS #8
	FrameKey []byte // Ed25519 seed
	KID      string
}

func credOf(tb testing.TB, v *vehicle) clientCred {
	k, err := x509.MarshalPKCS8PrivateKey(v.tlsKey)
	if err != nil {
		tb.Fatal(err)
	}
	c := clientCred{ID: v.id, TLSKey: k, FrameKey: v.frameKey.Seed(), KID: v.kid}
	for _, cert := range v.chain {
		c.Chain = append(c.Chain, cert.Raw)
	}
	return c
}

// TestSessionMemoryClient is the client process of BenchmarkSessionMemory;
// it does nothing unless started by it.
func TestSessionMemoryClient(t *testing.T) {
	path := os.Getenv("FW_SESSION_CLIENT")
	if path == "" {
		t.Skip("the client process of BenchmarkSessionMemory")
	}
	var spec clientSpec
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(spec.RootDER)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	var conns []*websocket.Conn
	for _, v := range spec.Vehicles {
		key, err := x509.ParsePKCS8PrivateKey(v.TLSKey)
		if err != nil {
			t.Fatal(err)
		}
		cert := &tls.Certificate{Certificate: v.Chain, PrivateKey: key}
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := websocket.Dial(ctx, spec.URL+Path, &websocket.DialOptions{
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, Subprotocols: []string{Subprotocol}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := frame.NewEd25519Signer(ed25519.NewKeyFromSeed(v.FrameKey))
		r := &rawClient{t: t, c: c, v: &vehicle{id: v.ID, signer: signer, kid: v.KID}, g: &gw{}}
		hello := make([]byte, 32)
		rand.Read(hello)
		r.send(&frame.Hello{Nonce: hello, State: frame.StateDriving})
		ch := mustRead(t, c, frame.KindChallenge).Body.(*frame.Challenge)
		r.send(&frame.ChallengeResponse{Nonce: ch.Nonce})
		mustRead(t, c, frame.KindReady)
		conns = append(conns, c)
	}
	fmt.Println("READY", len(conns))
	// Hold the sessions until the benchmark closes stdin.
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		c.CloseNow()
	}
}

// mustRead reads a gateway frame without verifying it (the client process
// only holds sessions open).
func mustRead(t *testing.T, c *websocket.Conn, kind frame.Kind) *frame.Frame {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := frame.ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := env.DecodeFrame()
	if err != nil || f.Kind() != kind {
		t.Fatalf("want %s: %v", kind, err)
	}
	return f
}
