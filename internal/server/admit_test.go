package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// clientCA issues client certificates for the admission tests; the
// principal is the certificate's common name (the real mapping is pki's).
type clientCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newClientCA(t *testing.T) *clientCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &clientCA{cert: c, key: key, pool: pool}
}

func (ca *clientCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeAdmission records what the server reports and tracks.
type fakeAdmission struct {
	mu       sync.Mutex
	reports  []error
	closers  map[string]func(code string)
	tracked  map[string]int
	refuseCN string
}

func (f *fakeAdmission) admission(anonymous map[Listener][]string, timeout time.Duration) *Admission {
	f.closers, f.tracked = map[string]func(code string){}, map[string]int{}
	return &Admission{
		HandshakeTimeout: timeout,
		Anonymous:        anonymous,
		Report: func(_ context.Context, _ string, conn *tls.Conn, err error) (principal.Principal, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reports = append(f.reports, err)
			if err != nil {
				return principal.Principal{}, err
			}
			cn := conn.ConnectionState().VerifiedChains[0][0].Subject.CommonName
			if cn == f.refuseCN {
				return principal.Principal{}, errors.New("refused by policy")
			}
			return principal.Principal{Kind: principal.Vehicle, ID: cn}, nil
		},
		Track: func(chain []*x509.Certificate, p principal.Principal, _ string, closeFn func(code string)) (func(), error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.closers[p.ID] = closeFn
			f.tracked[p.ID]++
			return func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.tracked[p.ID]--
			}, nil
		},
	}
}

func (f *fakeAdmission) trackedCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tracked[id]
}

func (f *fakeAdmission) lastReport() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reports) == 0 {
		return errors.New("no report")
	}
	return f.reports[len(f.reports)-1]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// admitted starts a server whose TLS listeners require client certificates
// from ca and are admitted through fa.
func admitted(t *testing.T, ca *clientCA, fa *fakeAdmission, anonymous map[Listener][]string, timeout time.Duration) *harness {
	return start(t, testConfig(), func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
				_, _ = io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
				return
			}
			_, _ = io.WriteString(w, "anonymous")
		})
		d.VehicleRoutes = Routes{"POST /v1/echo": whoami, "POST /v1/anon": whoami}
		d.Admission = fa.admission(anonymous, timeout)
	})
}

func (h *harness) mtlsClient(c *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: h.roots}
	if c != nil {
		tc.Certificates = []tls.Certificate{*c}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
}

// TestAdmissionReportsTracksAndCloses: an admitted connection is reported,
// tracked until it closes, serves HTTP/2 with the verified chain visible to
// handlers, and is cut when the tracker's close func runs (revocation).
func TestAdmissionReportsTracksAndCloses(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admitted(t, ca, fa, nil, 5*time.Second)
	truck := ca.issue(t, "truck-1")
	c := h.mtlsClient(&truck)
	resp, err := c.Post(h.url(Vehicle, "/v1/echo"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "truck-1" || resp.ProtoMajor != 2 {
		t.Fatalf("got %q over HTTP/%d", body, resp.ProtoMajor)
	}
	if err := fa.lastReport(); err != nil {
		t.Fatalf("report: %v", err)
	}
	if fa.trackedCount("truck-1") != 1 {
		t.Fatalf("tracked %d", fa.trackedCount("truck-1"))
	}

	// A raw keep-alive connection: the tracker's close func cuts it.
	conn, err := tls.Dial("tcp", h.addrs.Vehicle, &tls.Config{RootCAs: h.roots, Certificates: []tls.Certificate{truck},
		NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two tracked connections", func() bool { return fa.trackedCount("truck-1") == 2 })
	fa.mu.Lock()
	closeFn := fa.closers["truck-1"] // the latest: the raw connection
	fa.mu.Unlock()
	start := time.Now()
	closeFn("session_closed_revoked")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err == nil {
		t.Fatal("connection still open after its close func ran")
	} else if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("connection not closed: %v", err)
	}
	t.Logf("closed %v after the close func", time.Since(start))
	waitUntil(t, "untrack of the closed connection", func() bool { return fa.trackedCount("truck-1") == 1 })
	c.CloseIdleConnections()
	waitUntil(t, "untrack of the idle HTTP/2 connection", func() bool { return fa.trackedCount("truck-1") == 0 })
}

// TestAdmissionRefusesWhatReportRefuses: a connection Report refuses never
// reaches a handler.
func TestAdmissionRefusesWhatReportRefuses(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{refuseCN: "evil"}
	h := admitted(t, ca, fa, nil, 5*time.Second)
	evil := ca.issue(t, "evil")
	if resp, err := h.mtlsClient(&evil).Post(h.url(Vehicle, "/v1/echo"), "text/plain", nil); err == nil {
		resp.Body.Close()
		t.Fatalf("refused connection served: %d", resp.StatusCode)
	}
	if fa.trackedCount("evil") != 0 {
		t.Fatal("refused connection tracked")
	}
	// Without a certificate: crypto/tls refuses, and Report hears of it.
	if resp, err := h.mtlsClient(nil).Post(h.url(TMS, "/x"), "text/plain", nil); err == nil {
		resp.Body.Close()
		t.Fatal("TMS listener admitted a client without a certificate")
	}
	waitUntil(t, "the refusal report", func() bool { return fa.lastReport() != nil })
}

// TestAnonymousRoutesOnly: on a listener with anonymous routes, a client
// without a certificate completes the handshake (recorded), reaches those
// routes, and is refused everywhere else with an event; a client with a
// certificate the CA did not sign is still refused at the handshake.
func TestAnonymousRoutesOnly(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admitted(t, ca, fa, map[Listener][]string{Vehicle: {"POST /v1/anon"}}, 5*time.Second)
	anon := h.mtlsClient(nil)
	resp, err := anon.Post(h.url(Vehicle, "/v1/anon"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "anonymous" {
		t.Fatalf("anonymous route: %d %q", resp.StatusCode, body)
	}
	if len(h.events.ByCode(codes.TLSAnonymous)) == 0 {
		t.Fatal("anonymous connection not recorded")
	}
	resp, err = anon.Post(h.url(Vehicle, "/v1/echo"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProblem(t, resp, body, http.StatusForbidden, codes.ClientCertificateRequired)
	if evs := h.events.ByCode(codes.ClientCertificateRequired); len(evs) != 1 || evs[0].Attrs["route"] != "POST /v1/echo" {
		t.Fatalf("events %+v", evs)
	}

	other := newClientCA(t).issue(t, "truck-1")
	tc := &tls.Config{RootCAs: h.roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other, nil }}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	if resp, err := c.Post(h.url(Vehicle, "/v1/anon"), "text/plain", nil); err == nil {
		resp.Body.Close()
		t.Fatal("a certificate from another CA was admitted as anonymous")
	}

	// An anonymous route must exist.
	fa2 := &fakeAdmission{}
	cert, _ := testCert(t)
	_, err = New(testConfig(), Deps{Store: &fakeStore{}, Events: h.srv.events, Registry: prometheus.NewRegistry(),
		VehicleTLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TMSTLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Admission: fa2.admission(map[Listener][]string{Vehicle: {"POST /v1/nowhere"}}, time.Second)})
	if err == nil {
		t.Fatal("New accepted an anonymous route that does not exist")
	}
}

// TestStalledHandshakeIsCut: a client that connects and says nothing is
// disconnected after the handshake timeout, and the failure is reported.
func TestStalledHandshakeIsCut(t *testing.T) {
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	h := admitted(t, ca, fa, nil, 200*time.Millisecond)
	conn, err := net.Dial("tcp", h.addrs.Vehicle)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("server sent bytes to a silent client")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stalled handshake held %v", took)
	}
	waitUntil(t, "the timeout report", func() bool { return fa.lastReport() != nil })
}
