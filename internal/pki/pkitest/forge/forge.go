// Package forge makes the certificates an attacker without a credential
// presents, for tests of the listeners' refusals (issue 15: the
// unauthenticated event flood). It imports nothing of fifthwheel, so package
// pki's own tests can use it as well as the end-to-end tests of the binary.
//
// Security model: test only. Its certificates are self-signed and chain to
// no fifthwheel CA; nothing outside tests imports it.
//
// Compatibility: none promised; it changes with the tests.
package forge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SelfSignedWithSANs is an attacker's client certificate: self-signed, with
// n URI SANs of ~124 bytes each (what the outside review used: ~62 KB of
// event per refused handshake on the code before the bound).
func SelfSignedWithSANs(t testing.TB, n int) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for i := range n {
		u, _ := url.Parse(fmt.Sprintf("urn:fifthwheel:vehicle:%s-%03d", strings.Repeat("a", 96), i))
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
