package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestRevocationClosesOpenConnection: revoking a certificate closes a live
// connection that uses it within 1 s (invariant 6, docs/ARCHITECTURE.md), through the
// polling path another replica would take (no Notify), and the next
// handshake with it is refused.
func TestRevocationClosesOpenConnection(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs, err := NewRevocationSet(e.reg, RevocationConfig{PollInterval: DefaultRevocationPoll}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runSet(t, rs)
	waitFor(t, func() bool { _, err := rs.IsRevoked("x"); return err == nil })
	tracker := NewConnTracker(rs, e.bus)
	defer tracker.Stop()
	srv := e.startServer(t, vehicleListener, rs, tracker)

	is, cert := e.issue(principal.Vehicle, "truck-1")
	_, bystanderCert := e.issue(principal.Vehicle, "truck-2")
	conn, err := roundTrip(srv.addr, e.clientConfig(&cert))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bystander, err := roundTrip(srv.addr, e.clientConfig(&bystanderCert))
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()
	srv.next(t)
	srv.next(t)
	waitFor(t, func() bool { return tracker.Len() == 2 })

	closed := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		closed <- time.Now()
	}()
	start := time.Now()
	if _, err := e.ca.Revoke(ctx, is.Record.Serial, ReasonKeyCompromise, principal.Principal{Kind: principal.Operator, ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	select {
	case at := <-closed:
		took = at.Sub(start)
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open 5 s after revocation")
	}
	// The promise is 1 s. Expected: one poll interval (200 ms) at worst, plus
	// a reload and a close (well under 10 ms); the 800 ms left absorb -race
	// and a loaded CI runner.
	if took > time.Second {
		t.Fatalf("closed %v after revocation; promise is ≤ 1 s", took)
	}
	t.Logf("open connection closed %v after revocation", took)

	if _, err := bystander.Write([]byte("ping")); err != nil {
		t.Fatalf("unrelated connection was closed: %v", err)
	}
	if _, err := io.ReadFull(bystander, make([]byte, 4)); err != nil {
		t.Fatalf("unrelated connection was closed: %v", err)
	}
	// The tracker closes first and records after (the 1 s promise is about
	// the close), so the event may trail the close slightly.
	waitFor(t, func() bool { return e.countCode(codes.SessionClosedRevoked) >= 1 })
	if n := e.countCode(codes.SessionClosedRevoked); n != 1 {
		t.Fatalf("%d session_closed_revoked events", n)
	}
	if _, err := roundTrip(srv.addr, e.clientConfig(&cert)); err == nil {
		t.Fatal("revoked certificate accepted on a new handshake")
	}
	if r := srv.next(t); CodeOf(r.err) != codes.TLSCertRevoked {
		t.Fatalf("new handshake: %s", describe(r))
	}
}

func TestRevocationSetFailsClosed(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	clock := &testClock{}
	rs, err := NewRevocationSet(e.reg, RevocationConfig{PollInterval: time.Second, MaxAge: 10 * time.Second}, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.IsRevoked("01"); !errors.Is(err, ErrRevocationStale) {
		t.Fatalf("before the first load: %v", err)
	}
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := rs.IsRevoked("01"); err != nil || r {
		t.Fatalf("fresh: %v %v", r, err)
	}
	e.reg.FailWith(errors.New("store down"))
	clock.Set(9 * time.Second)
	if err := rs.Refresh(ctx); err == nil {
		t.Fatal("refresh succeeded against a failing store")
	}
	if _, err := rs.IsRevoked("01"); err != nil {
		t.Fatalf("within max age: %v", err)
	}
	clock.Set(11 * time.Second)
	if _, err := rs.IsRevoked("01"); !errors.Is(err, ErrRevocationStale) {
		t.Fatalf("past max age: %v", err)
	}
	e.reg.FailWith(nil)
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.IsRevoked("01"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestRevocationSetSubscribe(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	a, _ := e.issue(principal.Vehicle, "a")
	b, _ := e.issue(principal.Vehicle, "b")
	if _, err := e.ca.Revoke(ctx, a.Record.Serial, ReasonSuperseded, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	rs := e.newRevocationSet(t, nil) // initial load: no notification
	var mu sync.Mutex
	var got [][]string
	unsub := rs.Subscribe(func(s []string) { mu.Lock(); got = append(got, s); mu.Unlock() })
	if r, _ := rs.IsRevoked(a.Record.Serial); !r {
		t.Fatal("initial load missed a revocation")
	}
	if _, err := e.ca.Revoke(ctx, b.Record.Serial, ReasonSuperseded, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ca.Revoke(ctx, b.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rs.Refresh(ctx); err != nil { // unchanged version: no notification
		t.Fatal(err)
	}
	unsub()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || len(got[0]) != 1 || got[0][0] != b.Record.Serial {
		t.Fatalf("notifications %v, want one with %s", got, b.Record.Serial)
	}
	if e.countCode(codes.CertAlreadyRevoked) != 1 {
		t.Fatal("repeat revocation did not emit cert_already_revoked")
	}
}

// TestConnTrackerRace: a revocation applied between the handshake and Track
// is caught by Track's re-check.
func TestConnTrackerRace(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs := e.newRevocationSet(t, nil)
	tr := NewConnTracker(rs, e.bus)
	defer tr.Stop()
	is, _ := e.issue(principal.Vehicle, "truck-1")
	if _, err := e.ca.Revoke(ctx, is.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	closed, why := false, ""
	_, err := tr.Track([]*x509.Certificate{is.Certificate}, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, "vehicle",
		func(code string) { closed, why = true, code })
	if !errors.Is(err, ErrRevoked) || !closed || tr.Len() != 0 {
		t.Fatalf("Track of a revoked chain: err %v closed %v len %d", err, closed, tr.Len())
	}
	if why != codes.SessionClosedRevoked {
		t.Fatalf("closed with %q, want %s", why, codes.SessionClosedRevoked)
	}

	// ClosePrincipal cuts off a suspended principal's connections.
	other, _ := e.issue(principal.Client, "acme")
	n := 0
	for range 3 {
		if _, err := tr.Track([]*x509.Certificate{other.Certificate}, principal.Principal{Kind: principal.Client, ID: "acme"}, "tms", func(string) { n++ }); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.ClosePrincipal(ctx, principal.Principal{Kind: principal.Client, ID: "acme"}, "client_suspended"); got != 3 || n != 3 || tr.Len() != 0 {
		t.Fatalf("ClosePrincipal closed %d (%d calls), %d left", got, n, tr.Len())
	}
}

// slowEmitter is a durable event sink: each Emit call costs one write.
type slowEmitter struct {
	next  event.Emitter
	delay time.Duration
}

func (s slowEmitter) Emit(ctx context.Context, evs ...event.Event) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.next.Emit(ctx, evs...)
}

// TestAttackMassRevocationStallsRevocationFeed: the tracker's
// session_close events are recorded on the revocation feed's goroutine
// (RevocationSet.Refresh calls its subscribers). Recorded one write per
// closed connection, revoking an intermediate (or a principal) with many
// live connections holds Refresh for connections × write latency; meanwhile
// the set is not refreshed, later revocations do not reach live sessions,
// and past MaxAge (10 s) every handshake on the replica fails closed.
func TestAttackMassRevocationStallsRevocationFeed(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs := e.newRevocationSet(t, nil)
	tr := NewConnTracker(rs, slowEmitter{next: e.bus, delay: 10 * time.Millisecond})
	defer tr.Stop()
	is, _ := e.issue(principal.Vehicle, "truck-1")
	const conns = 300
	var closed sync.WaitGroup
	closed.Add(conns)
	for range conns {
		if _, err := tr.Track([]*x509.Certificate{is.Certificate}, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, "vehicle",
			func(string) { closed.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ca.Revoke(ctx, is.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Refresh held %v by the session_close events of %d connections", took, conns)
	}
	closed.Wait()
	if n := e.countCode(codes.SessionClosedRevoked); n != conns {
		t.Fatalf("%d session_closed_revoked events, want one per connection (%d)", n, conns)
	}
}
