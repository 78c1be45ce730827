package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/session"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// rawSession is a hand-driven vehicle session: one heartbeat at a time,
// where the test wants it.
type rawSession struct {
	t   testing.TB
	c   *websocket.Conn
	id  string
	key frameKey
	seq uint64
}

func dialSession(t testing.TB, g *gateway, id string, cred tls.Certificate, key frameKey) *rawSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc := g.tlsConfig(cred)
	tc.NextProtos = []string{"http/1.1"}
	c, _, err := websocket.Dial(ctx, "https://"+g.addrs.Vehicle+session.Path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, Subprotocols: []string{session.Subprotocol}})
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	s := &rawSession{t: t, c: c, id: id, key: key}
	hello := make([]byte, 32)
	rand.Read(hello)
	s.send(&frame.Hello{Nonce: hello, State: frame.StateDriving})
	ch, ok := s.read().Body.(*frame.Challenge)
	if !ok {
		t.Fatalf("%s: no challenge", id)
	}
	s.send(&frame.ChallengeResponse{Nonce: ch.Nonce})
	if f := s.read(); f.Kind() != frame.KindReady {
		t.Fatalf("%s: %s instead of ready", id, f.Kind())
	}
	return s
}

func (s *rawSession) send(body frame.Body) uint64 {
	s.seq++
	env, err := frame.Sign(s.key.signer, s.key.kid, &frame.Frame{VehicleID: s.id, Epoch: 0, Seq: s.seq,
		TS: time.Now().UTC().Truncate(time.Millisecond), Body: body})
	if err != nil {
		s.t.Error(err)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.c.Write(ctx, websocket.MessageText, env); err != nil {
		s.t.Errorf("%s: %v", s.id, err)
	}
	return s.seq
}

// read returns the next gateway frame (decoded; the session tests check
// the gateway's signatures).
func (s *rawSession) read() *frame.Frame {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := s.c.Read(ctx)
	if err != nil {
		s.t.Errorf("%s: %v", s.id, err)
		return &frame.Frame{}
	}
	env, err := frame.ParseEnvelope(data)
	if err != nil {
		s.t.Errorf("%s: %v", s.id, err)
		return &frame.Frame{}
	}
	f, err := env.DecodeFrame()
	if err != nil {
		s.t.Errorf("%s: %v", s.id, err)
		return &frame.Frame{}
	}
	return f
}

// heartbeatAcked sends a heartbeat and reports whether it was acked.
func (s *rawSession) heartbeatAcked() bool {
	seq := s.send(&frame.Heartbeat{State: frame.StateDriving})
	a, ok := s.read().Body.(*frame.Ack)
	return ok && a.AckSeq == seq
}

// countingConn counts what the server sent.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// closedByGateway reports whether err is the gateway closing the
// connection (a reset, or an end of stream), not any other failure.
func closedByGateway(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE)
}

// handshakeBytes runs a TLS handshake with tc and returns what the server
// sent before it ended, and its error.
func handshakeBytes(addr string, tc *tls.Config) (int64, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	cc := &countingConn{Conn: raw}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	err = tls.Client(cc, tc).Handshake()
	return cc.read.Load(), err
}

// TestOverloadRefusesBeforeTLSThroughServe: the serve command wires the
// session layer's overload signal into the vehicle listener's admission
// (session.Handler.Load → server.Admission.Load). The store is held by
// another process while a dozen connected vehicles each send a heartbeat,
// so their answers take seconds: the gateway is overloaded, with no room
// (it never answered in time). A new vehicle's connection is then closed
// before the TLS handshake: not one byte from the gateway, no handshake
// recorded for it, the refusal recorded as admission_overloaded from its
// source. A connected vehicle's heartbeats are acked all along; once the
// answers are fast and fresh no more, the overload ends and the new
// vehicle is admitted.
//
// Heartbeat misses are set to 10 so that the held store (1.5 s) does not
// also end the sessions as comm_lost.
func TestOverloadRefusesBeforeTLSThroughServe(t *testing.T) {
	// Sequential (no t.Parallel): it asserts the gateway's answer latency (session.overload_latency), which a
	// parallel neighbour's load could break.
	const (
		vehicles = 12
		hold     = 1500 * time.Millisecond
	)
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, []string{"FIFTHWHEEL_HEARTBEAT_MISSES=10"})
	var sessions []*rawSession
	for i := range vehicles {
		id := "truck-" + string(rune('a'+i))
		cred, _ := g.issue("vehicle", id)
		sessions = append(sessions, dialSession(t, g, id, cred, g.addFrameKey(id)))
	}
	newcomer, _ := g.issue("vehicle", "truck-new")
	newTLS := g.tlsConfig(newcomer)
	newTLS.ServerName = "127.0.0.1"
	handshakes := func() (n int) { // the newcomer's, recorded by the gateway
		for _, e := range g.events(codes.TLSAccepted) {
			if strings.Contains(string(e.Body), `"actor":"urn:fifthwheel:vehicle:truck-new"`) {
				n++
			}
		}
		return n
	}
	if n, err := handshakeBytes(g.addrs.Vehicle, newTLS); err != nil || n == 0 {
		t.Fatalf("the newcomer's handshake before any overload: %v after %d bytes", err, n)
	}
	waitUntilE2E(t, "the newcomer's handshake recorded", func() bool { return handshakes() == 1 })

	// Another process holds the store's write lock: every answer waits.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, store.DBFileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, vehicles)
	for i, s := range sessions {
		seqs[i] = s.send(&frame.Heartbeat{State: frame.StateDriving})
	}
	time.Sleep(hold) // the answers' latency: far above session.overload_latency
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions {
		if a, ok := s.read().Body.(*frame.Ack); !ok || a.AckSeq != seqs[i] {
			t.Fatalf("%s: the held heartbeat was not acked", s.id)
		}
	}

	// One vehicle goes on sending heartbeats: answered fast, each moves the
	// average only a little, and keeps it fresh.
	keeper := sessions[0]
	var acked atomic.Int64
	stop := make(chan struct{})
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if keeper.heartbeatAcked() {
				acked.Add(1)
			}
		}
	}()

	if n, err := handshakeBytes(g.addrs.Vehicle, newTLS); !closedByGateway(err) || n != 0 {
		close(stop)
		t.Fatalf("a new connection while overloaded: handshake error %v after %d bytes from the gateway; want a close before any byte", err, n)
	}
	g.waitEvent(codes.AdmissionOverloaded, `"source":"127.0.0.1"`)
	before := acked.Load()
	waitUntilE2E(t, "the connected vehicle's heartbeats acked while new connections are refused", func() bool { return acked.Load() > before+2 })
	close(stop)
	<-kept
	if n := handshakes(); n != 1 {
		t.Fatalf("%d handshakes of the newcomer recorded; the refused connection ran one", n)
	}

	// No answer for an interval: the average is stale, the overload over.
	waitUntilE2E(t, "the new vehicle admitted once the overload ended", func() bool {
		n, err := handshakeBytes(g.addrs.Vehicle, newTLS)
		return err == nil && n > 0
	})
	if !keeper.heartbeatAcked() {
		t.Fatal("the connected vehicle's heartbeat after the overload")
	}
}

func waitUntilE2E(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
