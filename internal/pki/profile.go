package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// profileSpec is what a profile puts in a leaf certificate.
type profileSpec struct {
	profile Profile
	eku     x509.ExtKeyUsage // the one extended key usage
	maxLife time.Duration
	sans    bool // DNS and IP SANs allowed
}

var profiles = map[principal.Kind]profileSpec{
	principal.Vehicle:  {ProfileVehicle, x509.ExtKeyUsageClientAuth, MaxVehicleLifetime, false},
	principal.Client:   {ProfileClient, x509.ExtKeyUsageClientAuth, MaxClientLifetime, false},
	principal.Operator: {ProfileOperator, x509.ExtKeyUsageClientAuth, MaxOperatorLifetime, false},
	principal.Gateway:  {ProfileGateway, x509.ExtKeyUsageServerAuth, MaxGatewayLifetime, true},
}

// ProfileFor returns the profile certificates of kind k are issued under.
func ProfileFor(k principal.Kind) (Profile, bool) {
	s, ok := profiles[k]
	return s.profile, ok
}

func (ca *CA) defaultLifetime(k principal.Kind) time.Duration {
	switch k {
	case principal.Vehicle:
		return ca.cfg.VehicleLifetime
	case principal.Client:
		return ca.cfg.ClientLifetime
	case principal.Operator:
		return ca.cfg.OperatorLifetime
	default:
		return ca.cfg.GatewayLifetime
	}
}

// principalURI returns p's URI SAN, urn:fifthwheel:<kind>:<id>.
func principalURI(p principal.Principal) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "fifthwheel:" + string(p.Kind) + ":" + p.ID}
}

// leafTemplate builds the certificate template for a leaf of p's profile.
// Nothing from a CSR other than its public key ever reaches it.
func (ca *CA) leafTemplate(p principal.Principal, spec profileSpec, lifetime time.Duration, dns []string, ips []net.IP,
	issuer *intermediate, now time.Time) (*x509.Certificate, error) {
	notAfter := now.Add(lifetime).Truncate(time.Second)
	if notAfter.After(issuer.cert.NotAfter) { // never outlive the issuer
		notAfter = issuer.cert.NotAfter
	}
	t := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: p.ID},
		NotBefore:             now.Add(-ClockSkew).Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{spec.eku},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{principalURI(p)},
		DNSNames:              slices.Clone(dns),
		IPAddresses:           slices.Clone(ips),
	}
	if ca.cfg.OCSPURL != "" {
		t.OCSPServer = []string{ca.cfg.OCSPURL}
	}
	if ca.cfg.CRLURL != "" {
		t.CRLDistributionPoints = []string{ca.cfg.CRLURL + "/" + issuer.kid + ".crl"}
	}
	if !t.NotAfter.After(t.NotBefore) {
		return nil, fmt.Errorf("pki: issuer %s expires too soon to issue", issuer.kid)
	}
	return t, nil
}

// serialOf returns the canonical serial of c.
func serialOf(c *x509.Certificate) string { return SerialString(c.SerialNumber) }

// ParseSerial accepts a serial as an operator may paste it (hex, any case,
// with or without colons, as openssl prints it) and returns SerialString's form.
func ParseSerial(s string) (string, error) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			clean = append(clean, s[i])
		}
	}
	if len(clean) == 0 || len(clean) > 40 {
		return "", fmt.Errorf("pki: bad serial %q", s)
	}
	n, ok := new(big.Int).SetString(string(clean), 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("pki: bad serial %q", s)
	}
	return SerialString(n), nil
}
