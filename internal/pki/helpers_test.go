package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// testClock is real time plus a settable offset, so tests can mint expired
// or future certificates and age the revocation data without sleeping.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Set(d time.Duration) { c.off.Store(int64(d)) }

// env is a CA on a MemRegistry with an in-memory event sink.
type env struct {
	t           testing.TB
	dir         string
	rootKeyFile string
	kek         KeyEncrypter
	reg         *MemRegistry
	sink        *event.MemorySink
	bus         *event.Bus
	clock       *testClock
	ca          *CA
	init        *InitResult
}

func newEnv(t testing.TB, alg KeyAlgorithm) *env {
	t.Helper()
	base := t.TempDir()
	kekPath := filepath.Join(base, "kek")
	if err := CreateKeyFile(kekPath); err != nil {
		t.Fatal(err)
	}
	kek, err := LoadKeyFileKEK(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: filepath.Join(base, "ca"), rootKeyFile: filepath.Join(base, "offline", "root.key"),
		kek: kek, reg: NewMemRegistry(), sink: &event.MemorySink{}, clock: &testClock{}}
	if err := mkdir(filepath.Dir(e.rootKeyFile)); err != nil {
		t.Fatal(err)
	}
	e.bus = event.NewBus(nil, nil, e.sink)
	e.init, err = Init(InitConfig{Dir: e.dir, RootKeyFile: e.rootKeyFile, Algorithm: alg}, kek)
	if err != nil {
		t.Fatal(err)
	}
	e.ca, err = Load(context.Background(), e.dir, Config{}, Deps{KEK: kek, Registry: e.reg, Events: e.bus, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// issue issues a certificate of kind for id with a fresh P-256 key.
func (e *env) issue(kind principal.Kind, id string) (*Issued, tls.Certificate) {
	e.t.Helper()
	req := IssueRequest{Subject: principal.Principal{Kind: kind, ID: id}}
	if kind == principal.Gateway {
		req.DNSNames = []string{"gw.fifthwheel.test"}
		req.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	is, key, err := e.ca.IssueWithNewKey(context.Background(), req, ECDSAP256)
	if err != nil {
		e.t.Fatal(err)
	}
	return is, is.TLSCertificate(key)
}

// issueAt issues with the CA clock shifted by off.
func (e *env) issueAt(off time.Duration, kind principal.Kind, id string) (*Issued, tls.Certificate) {
	e.t.Helper()
	e.clock.Set(off)
	defer e.clock.Set(0)
	return e.issue(kind, id)
}

// rawLeaf signs an arbitrary leaf template with signer/parent, bypassing the
// CA's profiles: what an attacker with a CA key, or a misconfigured CA,
// could produce.
func rawLeaf(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = newSerial()
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func vehicleTemplate(id string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: id},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: "urn", Opaque: "fifthwheel:vehicle:" + id}},
	}
}

func (e *env) issuing() *intermediate { return e.ca.state.Load().issuing }

// newCSR returns a DER CSR for p's URI with a fresh key of alg.
func newCSR(t testing.TB, key crypto.Signer, cn string, uris ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustKey(t testing.TB, alg KeyAlgorithm) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countCode counts recorded events with code.
func (e *env) countCode(code string) int { return len(e.sink.ByCode(code)) }

// ---- real TLS harness ----

type hsResult struct {
	p     principal.Principal
	err   error
	chain []*x509.Certificate
}

type tlsServer struct {
	addr    string
	results chan hsResult
}

// startServer runs a listener on 127.0.0.1:0 that completes each handshake
// itself, reports it with ReportHandshake, optionally tracks the connection,
// then echoes.
func (e *env) startServer(t testing.TB, lc ListenerConfig, rs *RevocationSet, tracker *ConnTracker) *tlsServer {
	t.Helper()
	_, gw := e.issue(principal.Gateway, "gw-1")
	cfg, err := ServerTLSConfig(lc, ListenerDeps{Trust: e.ca.Trust(), Revocations: rs, Events: e.bus,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &gw, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &tlsServer{addr: ln.Addr().String(), results: make(chan hsResult, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				defer tc.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				herr := tc.HandshakeContext(ctx)
				cancel()
				p, err := ReportHandshake(context.Background(), e.bus, lc.Name, tc, herr)
				r := hsResult{p: p, err: err}
				if err == nil {
					r.chain = tc.ConnectionState().VerifiedChains[0]
				}
				if err == nil && tracker != nil {
					untrack, terr := tracker.Track(r.chain, p, lc.Name, func(string) { tc.Close() })
					if terr != nil {
						r.err = terr
					} else {
						defer untrack()
					}
				}
				s.results <- r
				if r.err != nil {
					return
				}
				_, _ = io.Copy(tc, tc)
			}()
		}
	}()
	return s
}

func (s *tlsServer) next(t testing.TB) hsResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("server reported no handshake")
		return hsResult{}
	}
}

// clientConfig trusts the root (for the gateway's certificate) and always
// presents cert, whatever CAs the server asks for: an attacker does not
// politely withhold a certificate the server would not accept.
func (e *env) clientConfig(cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Root())
	return &tls.Config{
		RootCAs:    pool,
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
	}
}

// roundTrip dials, handshakes and echoes one message. In TLS 1.3 the client
// finishes its handshake before the server has judged its certificate, so a
// refusal may surface only on the first read.
func roundTrip(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		c.Close()
		return nil, err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		c.Close()
		return nil, err
	}
	if string(buf) != "ping" {
		c.Close()
		return nil, errors.New("bad echo")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func (e *env) newRevocationSet(t testing.TB, now func() time.Time) *RevocationSet {
	t.Helper()
	rs, err := NewRevocationSet(e.reg, RevocationConfig{PollInterval: 50 * time.Millisecond}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rs
}

func runSet(t testing.TB, rs *RevocationSet) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rs.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func mkdir(p string) error { return os.MkdirAll(p, 0o700) }

func describe(r hsResult) string {
	if r.err != nil {
		return fmt.Sprintf("refused %s (%v)", CodeOf(r.err), r.err)
	}
	return "accepted " + r.p.String()
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}
