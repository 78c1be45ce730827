package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/http"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// PrincipalFromChains maps a verified chain to the principal it
// authenticates. It looks at verifiedChains[0][0] and nothing else: peers
// can append any certificate they like to what they send, and crypto/tls
// puts the leaf it verified first (invariant 2, docs/ARCHITECTURE.md).
//
// The leaf must carry exactly one URI SAN, urn:fifthwheel:<kind>:<id>
// (matched byte for byte on the encoded SAN, so case and escapes are not
// normalized away), a CN equal to the id, no CA flag, exactly its profile's
// extended key usage (clientAuth for vehicles, clients and operators,
// serverAuth for gateways), and DNS or IP SANs only if it is a gateway's.
//
// Errors carry codes.TLSNoVerifiedChain, codes.CertNoIdentity or
// codes.CertProfileMismatch (see CodeOf).
func PrincipalFromChains(verifiedChains [][]*x509.Certificate) (principal.Principal, error) {
	if len(verifiedChains) == 0 || len(verifiedChains[0]) == 0 {
		return principal.Principal{}, refusal(http.StatusUnauthorized, codes.TLSNoVerifiedChain, "no verified certificate chain", nil)
	}
	leaf := verifiedChains[0][0]
	uris, err := uriSANs(leaf.Extensions)
	if err != nil || len(uris) != 1 || len(leaf.URIs) != 1 {
		return principal.Principal{}, refusal(http.StatusForbidden, codes.CertNoIdentity,
			"the certificate must carry exactly one urn:fifthwheel URI name", err)
	}
	p, err := principal.ParseURI(uris[0])
	if err != nil {
		return principal.Principal{}, refusal(http.StatusForbidden, codes.CertNoIdentity,
			"the certificate's URI name is not a fifthwheel principal", err)
	}
	if err := checkProfile(leaf, p); err != nil {
		return principal.Principal{}, err
	}
	return p, nil
}

func checkProfile(leaf *x509.Certificate, p principal.Principal) error {
	mismatch := func(detail string) error {
		return refusal(http.StatusForbidden, codes.CertProfileMismatch, detail, nil)
	}
	spec, ok := profiles[p.Kind]
	if !ok {
		return mismatch("no certificate profile for this principal kind")
	}
	if leaf.IsCA {
		return mismatch("a CA certificate cannot authenticate a principal")
	}
	if leaf.Subject.CommonName != p.ID {
		return mismatch("the certificate's common name differs from its URI name")
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{spec.eku}) || len(leaf.UnknownExtKeyUsage) != 0 {
		return mismatch("the certificate's extended key usage does not match its principal kind")
	}
	if !spec.sans && (len(leaf.DNSNames) > 0 || len(leaf.IPAddresses) > 0 || len(leaf.EmailAddresses) > 0) {
		return mismatch("only gateway certificates carry DNS or IP names")
	}
	return nil
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// uriSANs returns the uniformResourceIdentifier entries of the
// subjectAltName extension exactly as encoded (crypto/x509 exposes them only
// as parsed, normalized *url.URL values).
func uriSANs(exts []pkix.Extension) ([]string, error) {
	var uris []string
	found := false
	for _, ext := range exts {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		if found {
			return nil, errors.New("pki: repeated subjectAltName extension")
		}
		found = true
		der := cryptobyte.String(ext.Value)
		var seq cryptobyte.String
		if !der.ReadASN1(&seq, cbasn1.SEQUENCE) || !der.Empty() {
			return nil, errors.New("pki: malformed subjectAltName")
		}
		for !seq.Empty() {
			var name cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&name, &tag) {
				return nil, errors.New("pki: malformed subjectAltName")
			}
			if tag == cbasn1.Tag(6).ContextSpecific() {
				uris = append(uris, string(name))
			}
		}
	}
	return uris, nil
}
