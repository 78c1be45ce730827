package pki

import (
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest/forge"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// maxRefusalEventBytes bounds one handshake refusal event as the store
// keeps it: four URIs of at most 256 bytes, their count and hash, a bounded
// error sentence and the fixed members fit well under 2 KiB.
const maxRefusalEventBytes = 2 << 10

// TestAttackUnverifiedCertificateWith500SANs: a handshake with a
// self-signed certificate carrying 500 URI SANs is refused
// (tls_unknown_authority) with one event of bounded size that keeps four
// URIs, their count and hash, and the peer's source for aggregation. A
// refusal VerifyConnection makes carries the source too.
func TestAttackUnverifiedCertificateWith500SANs(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	srv := e.startServer(t, vehicleListener, rs, nil)

	forged := forge.SelfSignedWithSANs(t, 500)
	if _, err := roundTrip(srv.addr, e.clientConfig(&forged)); err == nil {
		t.Fatal("a self-signed certificate was admitted")
	}
	if r := srv.next(t); CodeOf(r.err) != codes.TLSUnknownAuthority {
		t.Fatalf("got %s", describe(r))
	}
	evs := e.sink.ByCode(codes.TLSUnknownAuthority)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	row, err := event.Row(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(row.Body) > maxRefusalEventBytes {
		t.Fatalf("refusal event is %d bytes, want ≤ %d", len(row.Body), maxRefusalEventBytes)
	}
	a := evs[0].Attrs
	if uris, _ := a["unverified_uri"].([]string); len(uris) != event.MaxAttrValues || !strings.HasSuffix(uris[0], "-000") {
		t.Fatalf("unverified_uri %v", a["unverified_uri"])
	}
	if a["unverified_uri_count"] != 500 || a["unverified_uri_sha256"] == nil || len(a["error"].(string)) > event.MaxAttrValueBytes {
		t.Fatalf("attributes %v", a)
	}
	if evs[0].Source != "127.0.0.1" {
		t.Fatalf("source %q, want 127.0.0.1", evs[0].Source)
	}
	t.Logf("refusal event: %d bytes", len(row.Body))

	// A CA-issued certificate of the wrong kind is refused in
	// VerifyConnection, before its key is proven: also from a source.
	_, client := e.issue(principal.Client, "acme")
	_, _ = roundTrip(srv.addr, e.clientConfig(&client))
	if r := srv.next(t); CodeOf(r.err) != codes.TLSKindNotAllowed {
		t.Fatalf("got %s", describe(r))
	}
	if evs := e.sink.ByCode(codes.TLSKindNotAllowed); len(evs) != 1 || evs[0].Source != "127.0.0.1" {
		t.Fatalf("kind refusal events %+v", evs)
	}
}
