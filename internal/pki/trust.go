package pki

import (
	"bytes"
	"crypto/x509"
	"sync/atomic"
)

// Trust is the set of intermediates listeners accept client certificates
// from. It changes atomically on rotation; tls.Configs built by
// ServerTLSConfig read it at every handshake, so adding or retiring an
// intermediate takes effect without a restart.
//
// Only intermediates are trust anchors here, never the root: a certificate
// the root signed directly, or one from a retired intermediate, does not
// chain to anything in the pool and crypto/tls refuses it. Go accepts a
// non-self-signed certificate as a verification anchor, so chains are
// leaf → intermediate and VerifiedChains[0] is [leaf, intermediate].
type Trust struct{ p atomic.Pointer[trustSet] }

type trustSet struct {
	gen   uint64
	pool  *x509.CertPool
	certs []*x509.Certificate
}

// LoadTrust reads the trusted intermediates of the CA directory dir: what a
// loaded CA's Trust holds, from the public files alone (no key is read, so
// no KEK is needed). Tools outside the gateway process (the CLI) use it to
// verify credentials with the listeners' policy (VerifyCredential).
func LoadTrust(dir string) (*Trust, error) {
	root, err := readRoot(dir)
	if err != nil {
		return nil, err
	}
	its, err := readIntermediates(dir, root)
	if err != nil {
		return nil, err
	}
	return newTrust(trustedOf(its)...), nil
}

// newTrust returns a Trust holding certs.
func newTrust(certs ...*x509.Certificate) *Trust {
	t := &Trust{}
	t.set(certs)
	return t
}

func (t *Trust) set(certs []*x509.Certificate) {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	var gen uint64
	if old := t.p.Load(); old != nil {
		gen = old.gen + 1
	}
	t.p.Store(&trustSet{gen: gen, pool: pool, certs: append([]*x509.Certificate(nil), certs...)})
}

func (t *Trust) load() *trustSet { return t.p.Load() }

// Pool returns the current pool of trusted intermediates.
func (t *Trust) Pool() *x509.CertPool { return t.load().pool }

// Certificates returns the currently trusted intermediates.
func (t *Trust) Certificates() []*x509.Certificate {
	return append([]*x509.Certificate(nil), t.load().certs...)
}

// Trusts reports whether c is one of the currently trusted intermediates
// (byte-for-byte).
func (t *Trust) Trusts(c *x509.Certificate) bool {
	for _, tc := range t.load().certs {
		if bytes.Equal(tc.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// LoadRoot reads the fleet root certificate of the CA directory dir (public
// file only, checked to be a self-signed CA): what a forensic bundle ships
// so its certificate chains verify offline.
func LoadRoot(dir string) (*x509.Certificate, error) { return readRoot(dir) }
