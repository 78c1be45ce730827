package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// devCertLifetime bounds the placeholder certificate to one day: it lives in
// memory only and a gateway restarted daily gets a fresh one.
const devCertLifetime = 24 * time.Hour

// devServerCert returns an ephemeral, self-signed ECDSA P-256 server
// certificate for 127.0.0.1, ::1 and localhost, generated in memory and never
// written to disk.
//
// PLACEHOLDER until the fleet PKI lands: package pki will issue the gateway's
// server certificates from the fleet CA and replace this function (and the
// tls.Configs serve builds around it, which will also require client
// certificates). Nothing but serve calls it.
func devServerCert(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("placeholder certificate: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("placeholder certificate: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "fifthwheel placeholder (not from the fleet CA)"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(devCertLifetime),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("placeholder certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("placeholder certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
