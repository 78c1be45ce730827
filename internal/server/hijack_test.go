package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHijackedConnectionClosesItsOwnWay: when the tracker cuts off an
// admitted connection that a handler hijacked and registered with
// HijackTracker, the handler's own close runs first (the peer reads what it
// writes: a vehicle session's typed close), and the transport is closed
// anyway, even though this handler never closes it. A request that did not
// come through the admission cannot be registered.
func TestHijackedConnectionClosesItsOwnWay(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	registered := make(chan error, 1)
	h := start(t, testConfig(), func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		d.VehicleRoutes = Routes{"GET /v1/hijack": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				registered <- err
				return
			}
			_, err = HijackTracker{}.Track(r, func(code string) {
				_, _ = io.WriteString(conn, "closed: "+code+"\n") // and never closes it
			})
			_, _ = brw.WriteString("ready\n")
			_ = brw.Flush()
			registered <- err
		})}
		d.Admission = fa.admission(nil, 5*time.Second)
	})
	truck := ca.issue(t, "truck-1")
	conn, err := tls.Dial("tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots, Certificates: []tls.Certificate{truck},
		NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/hijack HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-registered; err != nil {
		t.Fatalf("Track: %v", err)
	}
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	fa.mu.Lock()
	cutOff := fa.closers["truck-1"]
	fa.mu.Unlock()
	cutOff("session_closed_revoked")
	if line, err := r.ReadString('\n'); err != nil || line != "closed: session_closed_revoked\n" {
		t.Fatalf("after the cut-off read %q, %v: want the handler's own close first", line, err)
	}
	var ne net.Error
	if _, err := r.ReadByte(); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("transport still open after the cut-off: %v", err)
	}

	if _, err := (HijackTracker{}).Track(httptest.NewRequest(http.MethodGet, "/v1/hijack", nil), func(string) {}); !errors.Is(err, ErrNotAdmitted) {
		t.Fatalf("Track of a request the admission did not see: %v, want ErrNotAdmitted", err)
	}

	// Cut off before the handler registered: its close runs at once, from
	// inside Track.
	a, b := net.Pipe()
	defer b.Close()
	tc := &serverConn{Conn: a}
	tc.cutOff("session_closed_suspended")
	req := httptest.NewRequest(http.MethodGet, "/v1/hijack", nil)
	req = req.WithContext(context.WithValue(req.Context(), serverConnKey{}, tc))
	why := ""
	if _, err := (HijackTracker{}).Track(req, func(code string) { why = code }); err != nil || why != "session_closed_suspended" {
		t.Fatalf("Track after the cut-off: %v, close ran with %q", err, why)
	}
}
