package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// Attacks on admission: what a peer that has not proven who it is can hold
// (issue 15, items 1 and 4). Load-shaped tests run on loopback only, with
// a bounded number of sockets and bounded time.

// admittedWith starts a server like admitted does, with cfg, extra vehicle
// routes and the anonymous vehicle routes named.
func admittedWith(t *testing.T, cfg config.Config, ca *clientCA, fa *fakeAdmission, routes Routes, anonymous []string,
	timeout time.Duration) *harness {
	t.Helper()
	return start(t, cfg, func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		d.VehicleRoutes = Routes{"POST /v1/echo": whoami()}
		for p, h := range routes {
			d.VehicleRoutes[p] = h
		}
		var anon map[Listener][]string
		if len(anonymous) > 0 {
			anon = map[Listener][]string{Vehicle: anonymous}
		}
		d.Admission = fa.admission(anon, timeout)
	})
}

// vehicleGate is the admission gate of h's vehicle listener.
func (h *harness) vehicleGate() *admissionGate {
	for _, l := range h.srv.listeners {
		if l.name == Vehicle {
			return l.gate
		}
	}
	h.t.Fatal("no vehicle listener")
	return nil
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (h *harness) refused(code string) float64 {
	return counterValue(h.t, h.srv.metrics.refused.WithLabelValues(string(Vehicle), code))
}

// closedByPeer reads c until it fails, at most until deadline, and says
// whether the server closed it (EOF or reset) rather than the deadline
// passing.
func closedByPeer(c net.Conn, deadline time.Time) bool {
	_ = c.SetReadDeadline(deadline)
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// postH1 sends one HTTP/1.1 request on c and reads the answer's body.
func postH1(c net.Conn, br *bufio.Reader, path string) (string, error) {
	if _, err := io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// TestAttackHandshakeStall: one host opens 5,000 TCP connections to the
// vehicle listener and never sends a ClientHello, to fill the listener's
// handshake slots (issue 15 item 1: with one global cap, a real truck's
// handshake then waited for the stalled ones' 10 s handshake timeout).
// While it does, a vehicle from another source completes its mTLS
// handshake and a request within 1 s, every time; the accept loop refuses
// the offender's excess at once (admission_source_limit, counted); and the
// sockets it did take are closed by the 2 s ClientHello deadline, long
// before the 10 s handshake timeout (the defaults).
//
// Margin: a loopback mTLS handshake plus one request costs a few ms of CPU;
// 1 s is the issue's bound and leaves >100x for the race detector and a
// machine shared with other builds. Without per-source admission the
// vehicle waits in the kernel's accept queue (or is refused by the global
// cap) for seconds.
func TestAttackHandshakeStall(t *testing.T) {
	const (
		offenderSockets = 5000
		dialWorkers     = 16
		dialBudget      = 30 * time.Second // bounds the attack; loopback dials take ~1 s
		vehicleBound    = time.Second
		helloTimeout    = config.DefaultClientHelloTimeout
		handshakeLimit  = 10 * time.Second // tls.handshake_timeout's default
		closeMargin     = 3 * time.Second  // after the hello deadline; well below handshakeLimit
	)
	raiseOpenFiles(t, 2*offenderSockets+2000)
	cfg := testConfig()
	cfg.TLS.ClientHelloTimeout = helloTimeout
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admittedWith(t, cfg, ca, fa, nil, nil, handshakeLimit)
	truck := ca.issue(t, "truck-1")

	// The vehicle, from 127.0.0.1: handshake, one request, close.
	vehicle := func() (time.Duration, error) {
		began := time.Now()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots,
			Certificates: []tls.Certificate{truck}, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return time.Since(began), err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := postH1(conn, bufio.NewReader(conn), "/v1/echo")
		if err == nil && got != "truck-1" {
			err = fmt.Errorf("served as %q", got)
		}
		return time.Since(began), err
	}

	// The offender, from 127.0.0.2: connect, say nothing, hold the socket.
	var (
		mu      sync.Mutex
		held    []net.Conn
		reset   int // connections the gateway reset before the offender's connect returned
		dialErr error
	)
	attackCtx, stopAttack := context.WithTimeout(context.Background(), dialBudget)
	var next atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() {
		stopAttack()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	})
	for range dialWorkers {
		wg.Go(func() {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
			for next.Add(1) <= offenderSockets {
				c, err := d.DialContext(attackCtx, "tcp", h.addrs.Vehicle)
				mu.Lock()
				switch {
				case errors.Is(err, syscall.ECONNRESET):
					reset++ // refused on accept before connect returned
				case err != nil:
					if dialErr == nil {
						dialErr = err
					}
					mu.Unlock()
					return
				default:
					held = append(held, c)
				}
				mu.Unlock()
			}
		})
	}
	dialStart := time.Now()
	attacking := make(chan struct{})
	go func() { wg.Wait(); close(attacking) }()

	// During the attack, and right after it, the vehicle gets in.
	var worst time.Duration
	tries := 0
	for done := false; !done; {
		select {
		case <-attacking:
			done = true
		case <-time.After(100 * time.Millisecond):
		}
		took, err := vehicle()
		tries++
		if err != nil {
			t.Fatalf("vehicle try %d during the attack: %v after %v", tries, err, took)
		}
		worst = max(worst, took)
	}
	dialEnd := time.Now()
	if dialErr != nil {
		t.Fatalf("the offender could not open its sockets (%d open): %v", len(held), dialErr)
	}
	if len(held)+reset != offenderSockets {
		t.Fatalf("the offender opened %d sockets (and %d were reset at once), want %d", len(held), reset, offenderSockets)
	}
	t.Logf("offender: %d connections in %v (%d reset before connect returned); vehicle: %d handshakes, slowest %v",
		offenderSockets, dialEnd.Sub(dialStart), reset, tries, worst)
	if worst > vehicleBound {
		t.Fatalf("a vehicle handshake took %v during the attack, want <= %v", worst, vehicleBound)
	}

	// The gateway holds none of the offender's sockets past the ClientHello
	// deadline: every one is closed, well before the handshake timeout.
	deadline := dialEnd.Add(helloTimeout + closeMargin)
	for i, c := range held {
		if !closedByPeer(c, deadline) {
			t.Fatalf("offender socket %d still open %v after the attack, want closed by the %v ClientHello deadline",
				i, time.Since(dialEnd), helloTimeout)
		}
	}
	// Every offender socket was refused on accept or cut at the deadline,
	// each counted; the excess was refused on accept.
	waitUntil(t, "every offender socket counted", func() bool {
		return h.refused(codes.AdmissionSourceLimit)+h.refused(codes.TLSClientHelloTimeout) == offenderSockets
	})
	if h.refused(codes.AdmissionSourceLimit) == 0 {
		t.Fatal("nothing refused on accept")
	}
	if n := h.refused(codes.AdmissionGlobalLimit); n != 0 {
		t.Fatalf("%v refused by the global cap: one source took it all", n)
	}
	t.Logf("refused on accept: %v; cut at the ClientHello deadline: %v",
		h.refused(codes.AdmissionSourceLimit), h.refused(codes.TLSClientHelloTimeout))
	// Nothing of the offender's stays: its per-source state is freed.
	waitUntil(t, "the gate to empty", func() bool {
		p, a, n := h.vehicleGate().counts()
		return p == 0 && a == 0 && n == 0
	})
	// The vehicle still gets in after the attack.
	if took, err := vehicle(); err != nil || took > vehicleBound {
		t.Fatalf("vehicle after the attack: %v in %v", err, took)
	}
	// Every refusal is recorded or counted as dropped; none reaches Report
	// as a handshake (there was none).
	dropped := counterValue(t, h.srv.metrics.eventsDropped.WithLabelValues(string(Vehicle)))
	waitUntil(t, "the refusal events", func() bool {
		recorded := len(h.events.ByCode(codes.AdmissionSourceLimit)) + len(h.events.ByCode(codes.TLSClientHelloTimeout))
		return float64(recorded)+dropped == offenderSockets
	})
	if evs := h.events.ByCode(codes.AdmissionSourceLimit); len(evs) > 0 && evs[0].Source != "127.0.0.2" {
		t.Fatalf("refusal event %+v", evs[0])
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	for _, err := range fa.reports {
		if err != nil {
			t.Fatalf("a silent socket was reported as a handshake: %v", err)
		}
	}
}

// TestAttackSilentSocketCutAtClientHelloDeadline: a client that connects
// and never sends its ClientHello is closed after tls.client_hello_timeout,
// not the much longer handshake timeout, and recorded as
// tls_client_hello_timeout from its source. A client that did send its
// ClientHello is not held to that deadline afterwards.
func TestAttackSilentSocketCutAtClientHelloDeadline(t *testing.T) {
	const handshakeTimeout = 30 * time.Second
	cfg := testConfig()
	cfg.TLS.ClientHelloTimeout = 300 * time.Millisecond
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admittedWith(t, cfg, ca, fa, nil, nil, handshakeTimeout)

	conn, err := net.Dial("tcp", h.addrs.Vehicle)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	// A third of the handshake timeout: closed by then means the ClientHello
	// deadline cut it.
	if !closedByPeer(conn, began.Add(handshakeTimeout/3)) {
		t.Fatalf("a silent socket was held %v; want it closed after the %v ClientHello deadline", time.Since(began),
			cfg.TLS.ClientHelloTimeout)
	}
	t.Logf("closed after %v", time.Since(began))
	waitUntil(t, "the tls_client_hello_timeout event", func() bool {
		return len(h.events.ByCode(codes.TLSClientHelloTimeout)) == 1
	})
	ev := h.events.ByCode(codes.TLSClientHelloTimeout)[0]
	if ev.Source != "127.0.0.1" || ev.Attrs["listener"] != "vehicle" {
		t.Fatalf("event %+v", ev)
	}
	if n := h.refused(codes.TLSClientHelloTimeout); n != 1 {
		t.Fatalf("counted %v", n)
	}
	if err := fa.lastReport(); err == nil || err.Error() != "no report" {
		t.Fatalf("a silent socket reached Report: %v", err)
	}

	// A vehicle that handshakes at once, then waits past the ClientHello
	// deadline before its first request, is served.
	truck := ca.issue(t, "truck-1")
	tc, err := tls.Dial("tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots, Certificates: []tls.Certificate{truck},
		NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	time.Sleep(3 * cfg.TLS.ClientHelloTimeout)
	if got, err := postH1(tc, bufio.NewReader(tc), "/v1/echo"); err != nil || got != "truck-1" {
		t.Fatalf("request after the ClientHello deadline: %q, %v", got, err)
	}
}

// h2Preface is what an HTTP/2 client sends first: the connection preface
// and an empty SETTINGS frame (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// TestAttackIdleUnauthenticatedConnections: TLS connections without a
// client certificate (on the vehicle listener, for enrollment) that make no
// request are closed after tls.unauthenticated_idle_timeout over HTTP/2 and
// HTTP/1.1 (issue 15 item 4: they were held for http.idle_timeout, 2 min),
// one kept busy is closed at tls.unauthenticated_max_lifetime, and one with
// a request in progress (an enrollment waiting on the CA) is not cut.
func TestAttackIdleUnauthenticatedConnections(t *testing.T) {
	const (
		idle     = 500 * time.Millisecond
		margin   = 10 * idle       // closed within it: the idle deadline, not http.idle_timeout (2 min)
		lifetime = 3 * margin      // long enough not to be what closes the idle ones
		short    = 4 * idle        // the lifetime of the busy connection's server
		routeA   = "POST /v1/anon" // answers at once
		routeS   = "POST /v1/slow" // answers after 3 idle deadlines
	)
	cfg := testConfig()
	cfg.TLS.UnauthenticatedIdleTimeout = idle
	cfg.TLS.UnauthenticatedMaxLifetime = lifetime
	ca := newClientCA(t)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * idle) // an enrollment waiting on the store, longer than the idle deadline
		_, _ = io.WriteString(w, "enrolled")
	})
	routes := Routes{routeA: whoami(), routeS: slow}
	h := admittedWith(t, cfg, ca, &fakeAdmission{}, routes, []string{routeA, routeS}, 5*time.Second)
	cfg.TLS.UnauthenticatedMaxLifetime = short
	hShort := admittedWith(t, cfg, ca, &fakeAdmission{}, routes, []string{routeA, routeS}, 5*time.Second)
	closeBy := func() time.Time { return time.Now().Add(margin) }
	anonTLS := func(h *harness, proto string) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots, NextProtos: []string{proto}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if got := c.ConnectionState().NegotiatedProtocol; got != proto {
			t.Fatalf("negotiated %q, want %q", got, proto)
		}
		return c
	}

	t.Run("HTTP/2 connection that never makes a request", func(t *testing.T) {
		c := anonTLS(h, "h2")
		if _, err := io.WriteString(c, h2Preface); err != nil {
			t.Fatal(err)
		}
		if !closedByPeer(c, closeBy()) {
			t.Fatal("an idle certificate-less HTTP/2 connection is still open")
		}
	})
	t.Run("HTTP/1.1 connection idle after its request", func(t *testing.T) {
		c := anonTLS(h, "http/1.1")
		if got, err := postH1(c, bufio.NewReader(c), "/v1/anon"); err != nil || got != "anonymous" {
			t.Fatalf("request: %q, %v", got, err)
		}
		if !closedByPeer(c, closeBy()) {
			t.Fatal("an idle certificate-less HTTP/1.1 connection is still open")
		}
	})
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run("request in progress over "+proto+" is not cut", func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.roots, NextProtos: []string{proto}}}
			if proto == "h2" {
				tr.ForceAttemptHTTP2 = true
			} else {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: margin}).Post(h.url(Vehicle, "/v1/slow"), "text/plain", nil)
			if err != nil {
				t.Fatalf("a request in progress was cut: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "enrolled" || (proto == "h2") != (resp.ProtoMajor == 2) {
				t.Fatalf("HTTP/%d %d %q, %v", resp.ProtoMajor, resp.StatusCode, body, err)
			}
		})
	}
	t.Run("busy connection is closed at its lifetime", func(t *testing.T) {
		c := anonTLS(hShort, "http/1.1")
		br := bufio.NewReader(c)
		began := time.Now()
		for {
			if _, err := postH1(c, br, "/v1/anon"); err != nil {
				t.Logf("closed after %v: %v", time.Since(began), err)
				break
			}
			if time.Since(began) > margin {
				t.Fatalf("a certificate-less connection busy with requests lived %v, lifetime %v", time.Since(began), short)
			}
			time.Sleep(idle / 4)
		}
	})
	closed := func(h *harness, reason string) float64 {
		return counterValue(t, h.srv.metrics.unauthClosed.WithLabelValues(string(Vehicle), reason))
	}
	if closed(h, closedIdle) < 2 || closed(hShort, closedLifetime) != 1 {
		t.Fatalf("closes counted: idle %v, lifetime %v", closed(h, closedIdle), closed(hShort, closedLifetime))
	}
}

// whoami answers the client's certificate's common name, or "anonymous".
func whoami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			_, _ = io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
			return
		}
		_, _ = io.WriteString(w, "anonymous")
	})
}

// TestAttackUnauthenticatedConnectionsPerSource: one source opens more
// certificate-less connections than tls.max_unauthenticated_conns_per_source;
// the excess is closed when its handshake ends (counted, recorded), while a
// vehicle with a certificate from the same address is still served and a
// slot freed by a close can be used again.
func TestAttackUnauthenticatedConnectionsPerSource(t *testing.T) {
	const perSource = 4
	cfg := testConfig()
	cfg.TLS.MaxUnauthenticatedConnsPerSource = perSource
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admittedWith(t, cfg, ca, fa, Routes{"POST /v1/anon": whoami()}, []string{"POST /v1/anon"}, 5*time.Second)
	open := func() (net.Conn, error) {
		c, err := tls.Dial("tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := postH1(c, bufio.NewReader(c), "/v1/anon"); err != nil {
			c.Close()
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range perSource {
		c, err := open()
		if err != nil {
			t.Fatalf("certificate-less connection %d of %d: %v", i+1, perSource, err)
		}
		conns = append(conns, c)
	}
	if c, err := open(); err == nil {
		c.Close()
		t.Fatalf("connection %d without a certificate from one source was served", perSource+1)
	}
	// The client can see its connection refused before the gateway's
	// goroutine has counted the refusal: wait for the count, then check
	// it is exactly one.
	waitUntil(t, "the refusal counted", func() bool { return h.refused(codes.AdmissionUnauthenticatedLimit) >= 1 })
	if n := h.refused(codes.AdmissionUnauthenticatedLimit); n != 1 {
		t.Fatalf("counted %v", n)
	}
	waitUntil(t, "the refusal event", func() bool { return len(h.events.ByCode(codes.AdmissionUnauthenticatedLimit)) == 1 })
	if ev := h.events.ByCode(codes.AdmissionUnauthenticatedLimit)[0]; ev.Source != "127.0.0.1" || ev.Attrs["limit"] != perSource {
		t.Fatalf("event %+v", ev)
	}

	truck := ca.issue(t, "truck-1")
	resp, err := h.mtlsClient(&truck).Post(h.url(Vehicle, "/v1/echo"), "text/plain", nil)
	if err != nil {
		t.Fatalf("a vehicle from the same source: %v", err)
	}
	resp.Body.Close()

	conns[0].Close()
	conns = conns[1:]
	waitUntil(t, "the closed connection's slot", func() bool { _, a, _ := h.vehicleGate().counts(); return a == perSource-1 })
	c, err := open()
	if err != nil {
		t.Fatalf("a freed slot was not reusable: %v", err)
	}
	conns = append(conns, c)
}

// TestAdmissionGate: the per-source and listener-wide bounds, the source
// key (IPv4 address, IPv6 /64), and per-source state freed when a source
// has nothing left.
func TestAdmissionGate(t *testing.T) {
	if config.MaxPendingHandshakesPerSource != maxPendingHandshakes || config.MaxUnauthenticatedConnsPerSource != maxUnauthenticatedConns {
		t.Fatal("config's per-source bounds no longer equal the listener's")
	}
	g := newAdmissionGate(2, 1)
	src := event.SourceOf
	a, a6, b := src("192.0.2.1:1000"), src("[::ffff:192.0.2.1]:1001"), src("192.0.2.2:1000")
	if a != a6 {
		t.Fatalf("IPv4-mapped %v counted apart from %v", a6, a)
	}
	v6a, v6b, v6c := src("[2001:db8:1:2::1]:1"), src("[2001:db8:1:2:ffff::9]:1"), src("[2001:db8:1:3::1]:1")
	if v6a != v6b || v6a == v6c || v6a != "2001:db8:1:2::/64" {
		t.Fatalf("IPv6 sources %v %v %v", v6a, v6b, v6c)
	}
	if a != "192.0.2.1" {
		t.Fatalf("IPv4 source %q", a)
	}
	for i, want := range []string{"", "", codes.AdmissionSourceLimit} {
		if got := g.startHandshake(a); got != want {
			t.Fatalf("handshake %d from one source: %q, want %q", i+1, got, want)
		}
	}
	if got := g.startHandshake(b); got != "" {
		t.Fatalf("another source refused: %q", got)
	}
	if got := g.startAnonymous(a); got != "" {
		t.Fatal(got)
	}
	if got := g.startAnonymous(a); got != codes.AdmissionUnauthenticatedLimit {
		t.Fatalf("second certificate-less connection: %q", got)
	}
	g.endHandshake(a)
	g.endHandshake(a)
	g.endHandshake(b)
	if p, n, s := g.counts(); p != 0 || n != 1 || s != 1 {
		t.Fatalf("counts %d %d %d", p, n, s)
	}
	g.endAnonymous(a)
	if p, n, s := g.counts(); p != 0 || n != 0 || s != 0 {
		t.Fatalf("state left behind: %d %d %d", p, n, s)
	}

	// The listener-wide bound holds however many sources there are.
	wide := newAdmissionGate(maxPendingHandshakes, 1)
	for i := range maxPendingHandshakes {
		if got := wide.startHandshake(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()); got != "" {
			t.Fatalf("handshake %d: %q", i, got)
		}
	}
	if got := wide.startHandshake(b); got != codes.AdmissionGlobalLimit {
		t.Fatalf("beyond the listener's bound: %q", got)
	}
}
