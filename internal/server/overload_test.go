package server

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// countingConn counts the bytes the server sent.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (f *fakeAdmission) reportCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reports)
}

// TestAttackReconnectStormWhileOverloaded: while the gateway says it is
// overloaded (Admission.Load), the vehicle listener closes a new
// connection before any TLS handshake: the client gets not one byte (no
// ServerHello) and the handshake is never run, so never reported; the
// refusal is counted (admission_overloaded) and recorded from its source,
// for the aggregator. The truck already connected is served all along.
// Admission is sized by the room the gateway reports (the handshakes in
// progress become sessions) and by a few handshakes per CPU; once the
// overload ends, new connections are admitted again.
func TestAttackReconnectStormWhileOverloaded(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	var overloaded atomic.Bool
	var room atomic.Int64
	h := start(t, testConfig(), func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		d.VehicleRoutes = Routes{"POST /v1/echo": whoami()}
		d.Admission = fa.admission(nil, 10*time.Second)
		d.Admission.Load = func() (bool, int) { return overloaded.Load(), int(room.Load()) }
	})
	truck := ca.issue(t, "truck-1")
	clientTLS := &tls.Config{ServerName: "127.0.0.1", RootCAs: h.roots, Certificates: []tls.Certificate{truck}, NextProtos: []string{"http/1.1"}}
	gate := h.vehicleGate()

	// handshake dials the vehicle listener and runs a TLS handshake; it
	// returns the bytes the server sent and the handshake's error.
	handshake := func() (int64, *tls.Conn, error) {
		raw, err := net.DialTimeout("tcp", h.addrs.Vehicle, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		cc := &countingConn{Conn: raw}
		_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
		c := tls.Client(cc, clientTLS)
		err = c.Handshake()
		if err != nil {
			raw.Close()
			return cc.read.Load(), nil, err
		}
		t.Cleanup(func() { c.Close() })
		_ = raw.SetDeadline(time.Time{})
		return cc.read.Load(), c, nil
	}
	refusedBeforeHandshake := func(what string) {
		t.Helper()
		reports, refused := fa.reportCount(), h.refused(codes.AdmissionOverloaded)
		n, _, err := handshake()
		if err == nil || n != 0 {
			t.Fatalf("%s: handshake error %v after %d bytes from the server; want a close before any byte", what, err, n)
		}
		waitUntil(t, "the refusal counted", func() bool { return h.refused(codes.AdmissionOverloaded) == refused+1 })
		if got := fa.reportCount(); got != reports {
			t.Fatalf("%s: %d handshakes reported meanwhile; the refused connection ran one", what, got-reports)
		}
	}
	// silent opens n connections that hold a handshake slot each (no
	// ClientHello yet).
	silent := func(n int) (closeAll func()) {
		t.Helper()
		var cs []net.Conn
		for range n {
			c, err := net.Dial("tcp", h.addrs.Vehicle)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		waitUntil(t, "the handshakes in progress", func() bool { p, _, _ := gate.counts(); return p == n })
		return func() {
			for _, c := range cs {
				c.Close()
			}
			waitUntil(t, "the handshakes to end", func() bool { p, _, _ := gate.counts(); return p == 0 })
		}
	}

	// A truck connected before the overload.
	_, conn, err := handshake()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if got, err := postH1(conn, br, "/v1/echo"); err != nil || got != "truck-1" {
		t.Fatalf("before the overload: %q %v", got, err)
	}

	overloaded.Store(true) // and no room: the gateway holds what it served in time
	refusedBeforeHandshake("overloaded, no room")
	waitUntil(t, "the refusal's event", func() bool {
		evs := h.events.ByCode(codes.AdmissionOverloaded)
		return len(evs) == 1 && evs[0].Source == "127.0.0.1" && evs[0].Attrs["listener"] == string(Vehicle)
	})
	if got, err := postH1(conn, br, "/v1/echo"); err != nil || got != "truck-1" {
		t.Fatalf("the connected truck while overloaded: %q %v", got, err)
	}

	// Room for two sessions: two handshakes in progress take it.
	room.Store(2)
	release := silent(2)
	refusedBeforeHandshake("overloaded, the room taken by handshakes in progress")
	release()

	// Room for many: a few handshakes per CPU at once, no more.
	room.Store(1 << 20)
	release = silent(gate.maxOverloadPending)
	refusedBeforeHandshake("overloaded, the handshakes per CPU in progress")
	release()
	if _, c, err := handshake(); err != nil {
		t.Fatalf("overloaded, with room and a free handshake slot: %v", err)
	} else {
		c.Close()
	}

	overloaded.Store(false)
	release = silent(gate.maxOverloadPending) // the per-CPU cap holds only while overloaded
	_, c, err := handshake()
	release()
	if err != nil {
		t.Fatalf("after the overload: %v", err)
	}
	if got, err := postH1(c, bufio.NewReader(c), "/v1/echo"); err != nil || got != "truck-1" {
		t.Fatalf("a new truck after the overload: %q %v", got, err)
	}
	if got, err := postH1(conn, br, "/v1/echo"); err != nil || got != "truck-1" {
		t.Fatalf("the truck connected before: %q %v", got, err)
	}
}
