package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

var (
	vehicleListener = ListenerConfig{Name: "vehicle", Allowed: []principal.Kind{principal.Vehicle}}
	tmsListener     = ListenerConfig{Name: "tms", Allowed: []principal.Kind{principal.Client}}
)

// TestHandshakeMatrix drives real TLS handshakes (crypto/tls on both ends,
// 127.0.0.1) through the listener config and checks, for each attack, the
// server's verdict, its reason code, and that exactly one event with that
// code was recorded.
func TestHandshakeMatrix(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)

	// A revocation set whose clock we can push past MaxAge.
	staleClock := &testClock{}
	rsStale := e.newRevocationSet(t, staleClock.Now)
	staleClock.Set(time.Hour)

	servers := map[string]*tlsServer{
		"vehicle":       e.startServer(t, vehicleListener, rs, nil),
		"tms":           e.startServer(t, tmsListener, rs, nil),
		"vehicle-stale": e.startServer(t, vehicleListener, rsStale, nil),
	}

	_, truck1 := e.issue(principal.Vehicle, "truck-1")
	victimIs, victim := e.issue(principal.Vehicle, "truck-2")
	_, tmsClient := e.issue(principal.Client, "acme-tms")
	_, expired := e.issueAt(-48*time.Hour, principal.Vehicle, "truck-old")
	_, future := e.issueAt(2*time.Hour, principal.Vehicle, "truck-future")
	revokedIs, revoked := e.issue(principal.Vehicle, "truck-stolen")
	if _, err := e.ca.Revoke(ctx, revokedIs.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	rs.Notify()
	waitFor(t, func() bool { r, _ := rs.IsRevoked(revokedIs.Record.Serial); return r })

	other := newEnv(t, ECDSAP256) // another CA entirely
	_, foreign := other.issue(principal.Vehicle, "truck-1")

	rootKey, err := readKeyFile(e.rootKeyFile, e.kek, keyRoleRoot, e.ca.Root())
	if err != nil {
		t.Fatal(err)
	}
	rootLeaf, rootLeafKey := rawLeaf(t, vehicleTemplate("truck-1"), e.ca.Root(), rootKey)
	byRoot := tls.Certificate{Certificate: [][]byte{rootLeaf.Raw, e.ca.Root().Raw}, PrivateKey: rootLeafKey}

	noURI := vehicleTemplate("truck-1")
	noURI.URIs = nil
	noURILeaf, noURIKey := rawLeaf(t, noURI, e.issuing().cert, e.issuing().signer)
	noIdentity := tls.Certificate{Certificate: [][]byte{noURILeaf.Raw, e.issuing().cert.Raw}, PrivateKey: noURIKey}

	// The attacker holds truck-1's key and appends truck-2's (public)
	// certificate, hoping the gateway takes the identity from the last one.
	spoofAppended := truck1
	spoofAppended.Certificate = append(append([][]byte{}, truck1.Certificate...), victimIs.Chain[0])
	// Or puts truck-2's certificate first, signing with its own key.
	spoofFirst := tls.Certificate{Certificate: victim.Certificate, PrivateKey: truck1.PrivateKey}

	tls12 := func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }

	for _, tc := range []struct {
		name     string
		server   string
		cert     *tls.Certificate
		mod      func(*tls.Config)
		wantCode string              // "" means accepted
		wantP    principal.Principal // when accepted
	}{
		{"valid vehicle", "vehicle", &truck1, nil, "", principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}},
		{"valid TMS client", "tms", &tmsClient, nil, "", principal.Principal{Kind: principal.Client, ID: "acme-tms"}},
		{"no client certificate", "vehicle", nil, nil, codes.TLSNoClientCert, principal.Principal{}},
		{"expired certificate", "vehicle", &expired, nil, codes.TLSCertExpired, principal.Principal{}},
		{"not yet valid certificate", "vehicle", &future, nil, codes.TLSCertNotYetValid, principal.Principal{}},
		{"signed by another CA", "vehicle", &foreign, nil, codes.TLSUnknownAuthority, principal.Principal{}},
		{"issued directly by the root", "vehicle", &byRoot, nil, codes.TLSUnknownAuthority, principal.Principal{}},
		{"revoked certificate", "vehicle", &revoked, nil, codes.TLSCertRevoked, principal.Principal{}},
		{"vehicle certificate on the TMS listener", "tms", &truck1, nil, codes.TLSKindNotAllowed, principal.Principal{}},
		{"TMS client certificate on the vehicle listener", "vehicle", &tmsClient, nil, codes.TLSKindNotAllowed, principal.Principal{}},
		{"TLS 1.2 client", "vehicle", &truck1, tls12, codes.TLSProtocolVersion, principal.Principal{}},
		{"CA-signed certificate without URI identity", "vehicle", &noIdentity, nil, codes.CertNoIdentity, principal.Principal{}},
		// Identity comes from VerifiedChains[0][0] only: the appended
		// certificate is ignored and the connection is truck-1's.
		{"spoofed certificate appended to a valid chain", "vehicle", &spoofAppended, nil, "",
			principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}},
		{"victim's certificate presented without its key", "vehicle", &spoofFirst, nil, codes.TLSBadSignature, principal.Principal{}},
		{"revocation data stale: fail closed", "vehicle-stale", &truck1, nil, codes.RevocationStale, principal.Principal{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.wantCode
			if code == "" {
				code = codes.TLSAccepted
			}
			before, acceptedBefore := e.countCode(code), e.countCode(codes.TLSAccepted)
			cfg := e.clientConfig(tc.cert)
			if tc.mod != nil {
				tc.mod(cfg)
			}
			conn, cerr := roundTrip(servers[tc.server].addr, cfg)
			if conn != nil {
				conn.Close()
			}
			r := servers[tc.server].next(t)
			if tc.wantCode == "" {
				if r.err != nil || cerr != nil {
					t.Fatalf("want accepted, server: %s, client: %v", describe(r), cerr)
				}
				if r.p != tc.wantP {
					t.Fatalf("principal %v, want %v", r.p, tc.wantP)
				}
				if got := serialOf(r.chain[0]); got != serialOf(mustLeaf(t, tc.cert)) {
					t.Fatalf("identity taken from %s, not the presented leaf", got)
				}
			} else {
				if r.err == nil {
					t.Fatalf("want refusal %s, server accepted %v", tc.wantCode, r.p)
				}
				if got := CodeOf(r.err); got != tc.wantCode {
					t.Fatalf("code %s, want %s (%v)", got, tc.wantCode, r.err)
				}
				if cerr == nil {
					t.Fatal("client saw no error")
				}
				if n := e.countCode(codes.TLSAccepted) - acceptedBefore; n != 0 {
					t.Fatalf("%d tls_accepted events for a refused handshake", n)
				}
			}
			if n := e.countCode(code) - before; n != 1 {
				t.Fatalf("%d %s events, want exactly 1", n, code)
			}
		})
	}

	// Refusal events from VerifyConnection name the claimed principal as
	// the resource, never as the actor: possession is not proven yet.
	for _, ev := range e.sink.ByCode(codes.TLSKindNotAllowed) {
		if !ev.Actor.IsZero() || ev.Resource == "" {
			t.Fatalf("kind refusal event actor %v resource %q", ev.Actor, ev.Resource)
		}
	}
	// crypto/tls refusals carry the presented identity as unverified attributes.
	ev := e.sink.ByCode(codes.TLSUnknownAuthority)[0]
	if ev.Attrs["unverified_serial"] == nil || !ev.Actor.IsZero() {
		t.Fatalf("unknown-authority event: %+v", ev)
	}
}

func mustLeaf(t *testing.T, c *tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestRevokedIntermediateRefused: revoking an intermediate's serial refuses
// every certificate chaining to it, even though the intermediate is still
// in the trust pool.
func TestRevokedIntermediateRefused(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	srv := e.startServer(t, vehicleListener, rs, nil)
	_, truck := e.issue(principal.Vehicle, "truck-1")
	if _, err := roundTrip(srv.addr, e.clientConfig(&truck)); err != nil {
		t.Fatal(err)
	}
	if r := srv.next(t); r.err != nil {
		t.Fatal(r.err)
	}
	interSerial := serialOf(e.issuing().cert)
	if _, err := e.ca.Revoke(ctx, interSerial, ReasonCACompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	rs.Notify()
	waitFor(t, func() bool { r, _ := rs.IsRevoked(interSerial); return r })
	_, _ = roundTrip(srv.addr, e.clientConfig(&truck))
	r := srv.next(t)
	if CodeOf(r.err) != codes.TLSCertRevoked {
		t.Fatalf("got %s", describe(r))
	}
	if got := e.sink.ByCode(codes.TLSCertRevoked)[0].Attrs["revoked_serial"]; got != interSerial {
		t.Fatalf("revoked_serial %v, want the intermediate's %s", got, interSerial)
	}
}

// TestAcceptEventFailureRefuses: an accepted handshake whose event cannot be
// recorded is refused (fail closed, invariant 7).
func TestAcceptEventFailureRefuses(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	failing := &failingSink{}
	e.bus = event.NewBus(nil, nil, e.sink, failing)
	srv := e.startServer(t, vehicleListener, rs, nil)
	_, truck := e.issue(principal.Vehicle, "truck-1")
	failing.fail.Store(true)
	_, _ = roundTrip(srv.addr, e.clientConfig(&truck))
	if r := srv.next(t); CodeOf(r.err) != codes.EventSinkFailed {
		t.Fatalf("got %s", describe(r))
	}
}

type failingSink struct{ fail atomic.Bool }

func (f *failingSink) Write(context.Context, []event.Encoded) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return nil
}

// TestServerTLSConfigShape pins the security-relevant settings.
func TestServerTLSConfigShape(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := e.newRevocationSet(t, nil)
	cfg, err := ServerTLSConfig(vehicleListener, ListenerDeps{Trust: e.ca.Trust(), Revocations: rs, Events: e.bus,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*tls.Config{cfg, inner} {
		if c.MinVersion != tls.VersionTLS13 || c.ClientAuth != tls.RequireAndVerifyClientCert || c.VerifyConnection == nil {
			t.Fatalf("config: min %x auth %v", c.MinVersion, c.ClientAuth)
		}
	}
	// The client CA pool is the intermediate only, not the root.
	//lint:ignore SA1019 the pool is ours, not the system pool; its contents are the point
	subjects := inner.ClientCAs.Subjects()
	if len(subjects) != 1 || string(subjects[0]) != string(e.issuing().cert.RawSubject) {
		t.Fatalf("client CA pool holds %d subjects, want the one intermediate", len(subjects))
	}
	if _, err := ServerTLSConfig(ListenerConfig{Name: "x", Allowed: []principal.Kind{principal.Gateway}},
		ListenerDeps{Trust: e.ca.Trust(), Revocations: rs, Events: e.bus, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }}); err == nil {
		t.Fatal("gateway kind accepted as a TLS client kind")
	}
}

// TestVerifyConnectionDefenses covers what crypto/tls already prevents
// today but VerifyConnection checks anyway, so a resumed session or a
// future crypto/tls change cannot bypass it: no chain, an anchor that is no
// longer trusted, a leaf outside its validity.
func TestVerifyConnectionDefenses(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := e.newRevocationSet(t, nil)
	clock := &testClock{}
	l := &listener{name: "vehicle", allowed: map[principal.Kind]bool{principal.Vehicle: true}, trust: e.ca.Trust(),
		rs: rs, ev: emitter{e.bus}, now: clock.Now}
	is, _ := e.issue(principal.Vehicle, "truck-1")
	chain := []*x509.Certificate{is.Certificate, e.issuing().cert}
	other := newEnv(t, ECDSAP256)
	for _, tc := range []struct {
		name  string
		cs    tls.ConnectionState
		clock time.Duration
		code  string
	}{
		{"accepted", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{chain}}, 0, ""},
		{"no verified chain", tls.ConnectionState{}, 0, codes.TLSNoVerifiedChain},
		{"anchor not trusted", tls.ConnectionState{DidResume: true, VerifiedChains: [][]*x509.Certificate{{is.Certificate, other.issuing().cert}}}, 0, codes.CertIssuerNotTrusted},
		{"leaf expired since the session began", tls.ConnectionState{DidResume: true, VerifiedChains: [][]*x509.Certificate{chain}}, 25 * time.Hour, codes.TLSCertExpired},
	} {
		clock.Set(tc.clock)
		before := e.countCode(tc.code)
		err := l.verify(context.Background(), "192.0.2.1:1234", tc.cs)
		if got := CodeOf(err); got != tc.code {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
		}
		if tc.code != "" && e.countCode(tc.code)-before != 1 {
			t.Errorf("%s: want one event", tc.name)
		}
	}
}
