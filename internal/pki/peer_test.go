package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestPeerTakesIdentityFromVerifiedChainOnly: the verified leaf names the
// peer; certificates the client merely sent (PeerCertificates) never do.
func TestPeerTakesIdentityFromVerifiedChainOnly(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	truck, _ := e.issue(principal.Vehicle, "truck-1")
	victim, _ := e.issue(principal.Vehicle, "truck-2")

	r := httptest.NewRequest("GET", "/", nil)
	if _, ok := Peer(r); ok {
		t.Fatal("plain HTTP request has a peer")
	}
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{victim.Certificate}}
	if p, ok := Peer(r); ok {
		t.Fatalf("unverified certificate named %v", p)
	}
	r.TLS = &tls.ConnectionState{
		PeerCertificates: []*x509.Certificate{truck.Certificate, victim.Certificate},
		VerifiedChains:   [][]*x509.Certificate{{truck.Certificate, e.issuing().cert}},
	}
	p, ok := Peer(r)
	if !ok || p != (principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}) {
		t.Fatalf("Peer = %v, %v; want truck-1", p, ok)
	}
}
