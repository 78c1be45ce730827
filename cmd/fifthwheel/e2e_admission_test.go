package main

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// TestAdmissionLimitsThroughServe: the tls.* admission settings reach the
// listeners the serve command builds (issue 15 items 1 and 4). A socket
// that never sends its ClientHello is cut at tls.client_hello_timeout and
// recorded from its source; a connection without a certificate beyond
// tls.max_unauthenticated_conns_per_source is refused and recorded; one
// idle after its request is cut at tls.unauthenticated_idle_timeout, not
// http.idle_timeout (2 min). The library's own tests (internal/server
// TestAttack*) prove the mechanisms; this proves the wiring.
func TestAdmissionLimitsThroughServe(t *testing.T) {
	// Sequential (no t.Parallel): it asserts its ClientHello and idle deadlines, which a
	// parallel neighbour's load could break.
	// The margins separate the values set here from the defaults (2 s
	// ClientHello deadline, 10 s idle deadline), so a setting that did not
	// reach the listener fails the test; the closes themselves take ~0 ms
	// after their deadline.
	const (
		hello      = 300 * time.Millisecond
		helloBy    = 5 * hello
		idle       = 2 * time.Second
		idleMargin = 4 * time.Second
	)
	data := filepath.Join(t.TempDir(), "d")
	g := startGateway(t, data, []string{"--data", data}, []string{
		"FIFTHWHEEL_TLS_CLIENT_HELLO_TIMEOUT=" + hello.String(),
		"FIFTHWHEEL_TLS_UNAUTHENTICATED_IDLE_TIMEOUT=" + idle.String(),
		"FIFTHWHEEL_TLS_MAX_UNAUTHENTICATED_CONNS_PER_SOURCE=2",
	})

	silent, err := net.Dial("tcp", g.addrs.Vehicle)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(helloBy))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("the gateway sent bytes to a silent socket")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a silent socket was held past the ClientHello deadline")
	}
	g.waitEvent(codes.TLSClientHelloTimeout, `"source":"127.0.0.1"`)

	// Two enrolling clients without a certificate, each with a request
	// answered (a refused enrollment keeps the connection).
	anon := g.tlsConfig(tls.Certificate{})
	var open []*keepAlive
	for i := range 2 {
		k, err := dialKeepAlive(t, g.addrs.Vehicle, anon)
		if err != nil {
			t.Fatal(err)
		}
		defer k.conn.Close()
		if code, body, err := k.post("/v1/pki/enroll", []byte(`{}`)); err != nil || code != 400 {
			t.Fatalf("certificate-less connection %d: %d %s %v", i+1, code, body, err)
		}
		open = append(open, k)
	}
	closed := open[0].closed()
	if refused, _ := refusedHandshake(t, g.addrs.Vehicle, anon); !refused {
		t.Fatal("a third connection without a certificate from one source was admitted")
	}
	g.waitEvent(codes.AdmissionUnauthenticatedLimit, `"limit":2`)

	select {
	case <-closed:
	case <-time.After(idle + idleMargin):
		t.Fatalf("a certificate-less connection idle for %v is still open", idle+idleMargin)
	}
}
