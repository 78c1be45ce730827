package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Credentials serve keeps for itself.
const (
	// gatewayCheckInterval is how often a running gateway checks whether its
	// server certificate has passed 2/3 of its life (90 days by default).
	gatewayCheckInterval = time.Hour
	// devOperatorID and devOperatorLifetime: the operator credential
	// 'serve --dev' writes for the local CLI. A week, so a trial does not
	// lose its operator overnight (operators are 12 h in production).
	devOperatorID       = "dev"
	devOperatorLifetime = 7 * 24 * time.Hour
)

// renewDue reports whether a certificate valid from nb to na has passed
// 2/3 of its life at now (docs/ARCHITECTURE.md, Defaults: renewed at 2/3 of life).
func renewDue(nb, na, now time.Time) bool {
	return !now.Before(nb.Add(na.Sub(nb) * 2 / 3))
}

// gatewayCert is the gateway's server certificate from the fleet CA, for
// both TLS listeners. It is issued at start unless the one in dir is still
// good, and replaced by a running gateway once past 2/3 of its life.
type gatewayCert struct {
	ca  *pki.CA
	rs  *pki.RevocationSet
	dir string // where cert.pem, key.pem, ca.pem live; "" keeps it in memory
	id  string
	dns []string
	ips []net.IP
	log *slog.Logger
	cur atomic.Pointer[tls.Certificate]
}

// getCertificate is tls.Config.GetCertificate.
func (g *gatewayCert) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := g.cur.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("gateway: no server certificate")
}

// ensure keeps the current (or stored) certificate if it is still good,
// else issues and stores a new one.
func (g *gatewayCert) ensure(ctx context.Context, now time.Time) error {
	if c := g.cur.Load(); c != nil && g.good(*c, now) {
		return nil
	}
	if g.dir != "" {
		if c, err := loadCredential(g.dir); err == nil && g.good(c, now) {
			g.cur.Store(&c)
			return nil
		}
	}
	is, key, err := g.ca.IssueWithNewKey(ctx, pki.IssueRequest{
		Subject: principal.Principal{Kind: principal.Gateway, ID: g.id}, DNSNames: g.dns, IPAddresses: g.ips,
		RequestedBy: gatewayActor}, pki.ECDSAP256)
	if err != nil {
		return fmt.Errorf("issue the gateway's server certificate: %v", err)
	}
	if g.dir != "" {
		if err := writeCredential(g.dir, is, key, g.ca.Root(), true); err != nil {
			return fmt.Errorf("write the gateway's server certificate: %v", err)
		}
	}
	c := is.TLSCertificate(key)
	g.cur.Store(&c)
	g.log.Info("gateway server certificate issued", slog.String("serial", is.Record.Serial),
		slog.Time("not_after", is.Record.NotAfter), slog.Any("dns", g.dns), slog.Any("ips", g.ips))
	return nil
}

// good: names as configured, chained to a currently trusted intermediate,
// not revoked, not past 2/3 of its life.
func (g *gatewayCert) good(c tls.Certificate, now time.Time) bool {
	if len(c.Certificate) < 2 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	inter, err := x509.ParseCertificate(c.Certificate[1])
	if err != nil || !g.ca.Trust().Trusts(inter) || leaf.CheckSignatureFrom(inter) != nil {
		return false
	}
	if revoked, err := g.rs.IsRevoked(pki.SerialString(leaf.SerialNumber)); err != nil || revoked {
		return false
	}
	if now.Before(leaf.NotBefore) || renewDue(leaf.NotBefore, leaf.NotAfter, now) {
		return false
	}
	ipStrings := func(ips []net.IP) []string {
		var out []string
		for _, ip := range ips {
			out = append(out, ip.String())
		}
		slices.Sort(out)
		return out
	}
	dns := slices.Sorted(slices.Values(g.dns))
	have := slices.Sorted(slices.Values(leaf.DNSNames))
	return slices.Equal(dns, have) && slices.Equal(ipStrings(g.ips), ipStrings(leaf.IPAddresses))
}

// run re-checks the certificate every gatewayCheckInterval until ctx ends.
func (g *gatewayCert) run(ctx context.Context) {
	t := time.NewTicker(gatewayCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.ensure(ctx, time.Now()); err != nil {
				g.log.Error("renewing the gateway's server certificate failed; the current one stays", slog.Any("err", err))
			}
		}
	}
}

// gatewayID names the gateway principal: the host name when it is a valid
// principal id, else "gateway".
func gatewayID() string {
	if h, err := os.Hostname(); err == nil && principal.ValidID(h) {
		return h
	}
	return "gateway"
}

// ensureDevOperator writes the local CLI's operator credential to
// DATA/operator unless the one there is current, unrevoked and before 2/3
// of its life.
func ensureDevOperator(ctx context.Context, ca *pki.CA, rs pki.RevocationChecker, dataDir string, log *slog.Logger) error {
	dir := filepath.Join(dataDir, operatorDir)
	now := time.Now()
	if c, err := loadCredential(dir); err == nil {
		if _, leaf, err := pki.VerifyCredential(c, pki.CredentialPolicy{Trust: ca.Trust(), Revocations: rs,
			Allowed: []principal.Kind{principal.Operator}, Now: now}); err == nil && !renewDue(leaf.NotBefore, leaf.NotAfter, now) {
			return nil
		}
	}
	is, key, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: principal.Principal{Kind: principal.Operator, ID: devOperatorID},
		Lifetime: devOperatorLifetime, RequestedBy: gatewayActor}, pki.ECDSAP256)
	if err != nil {
		return fmt.Errorf("issue the development operator credential: %v", err)
	}
	if err := writeCredential(dir, is, key, ca.Root(), true); err != nil {
		return fmt.Errorf("write the development operator credential: %v", err)
	}
	log.Info("development operator credential written", slog.String("dir", dir),
		slog.String("operator", is.Record.Principal().String()), slog.Time("not_after", is.Record.NotAfter))
	return nil
}
