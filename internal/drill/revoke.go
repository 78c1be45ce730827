package drill

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// revokedDrill: a truck on the agent SDK is in session when the operator
// revokes the vehicle (key compromise). The gateway must close the live
// session within RevocationSLA with the typed close (the agent reports
// ErrRevoked with session_closed_revoked, and the gateway records it), and
// refuse the revoked certificate's next handshake (tls_cert_revoked).
func revokedDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.Revoke == nil {
		return errors.New("the target cannot revoke a vehicle")
	}
	v, err := enroll(ctx, t, "revoked")
	if err != nil {
		return err
	}
	defer v.close()
	tr, err := startTruck(ctx, t, v, &silentLink{})
	if err != nil {
		return err
	}
	defer tr.stop()

	start := time.Now()
	if err := t.Revoke(ctx, v.id); err != nil {
		return err
	}
	return cutOff(ctx, t, p, v, tr, start)
}

// cutOff checks that vehicle v, revoked at start, is cut off: truck tr's
// live session closes within RevocationSLA with the typed close (recorded
// by the gateway), and the revoked certificate's next handshake is
// refused (tls_cert_revoked).
func cutOff(ctx context.Context, t *Target, p *Probe, v *vehicle, tr *truck, start time.Time) error {
	var ev agent.Event
	select {
	case ev = <-tr.disconnected:
	case <-time.After(RevocationSLA + p.eventWait):
		p.Check("the live session was closed", "closed", "still open")
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	p.Timing("live session closed after the revocation", ev.Time.Sub(start), RevocationSLA)
	p.Check("the agent's reason", "revoked: "+codes.SessionClosedRevoked,
		map[bool]string{true: "revoked", false: "not revoked"}[errors.Is(ev.Err, agent.ErrRevoked)]+": "+ev.Code)
	if err := awaitEvent(ctx, t, p, codes.SessionClosedRevoked, v.subject(), nil); err != nil {
		return err
	}

	// The revoked certificate's next handshake.
	roots, err := t.roots()
	if err != nil {
		return err
	}
	cert := tls.Certificate{PrivateKey: v.creds.TLSKey, Leaf: v.creds.Chain[0]}
	for _, c := range v.creds.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	local, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	// The gateway answers a refused chain with a plain bad_certificate
	// alert, the reason being in its event.
	p.Check("handshake with the revoked certificate", alertFromGateway("bad certificate"), refusal(herr))
	return awaitEvent(ctx, t, p, codes.TLSCertRevoked, "", func(r store.EventRow) bool {
		return eventAttr(r, "remote") == local
	})
}
