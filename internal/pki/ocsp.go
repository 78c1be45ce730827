package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// OCSP responses are signed by a delegated responder (RFC 6960 §4.2.2.2):
// a short-lived P-256 certificate per intermediate, issued by that
// intermediate with the id-kp-OCSPSigning EKU and id-pkix-ocsp-nocheck, its
// key held only in memory and replaced before it expires. Why not the
// intermediate itself: golang.org/x/crypto/ocsp cannot sign with Ed25519,
// which intermediates may use, and a responder key that signs a response per
// request is better kept apart from the key that signs certificates. Each
// responder certificate is recorded and announced like any issuance.
//
// Responses carry no nonce (x/crypto/ocsp does not parse request
// extensions): they are the RFC 5019 lightweight kind, valid OCSPValidity,
// and clients should not require a nonce (openssl: -no_nonce).

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

type ocspResponder struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// OCSPResponse answers a DER OCSP request for one certificate: good,
// revoked (with time and reason) or unknown (not issued by that
// intermediate), valid OCSPValidity. It always returns bytes to send when
// the request could be answered in OCSP terms, including the protocol's
// error responses: malformedRequest for an oversized or unparseable request,
// unauthorized for an issuer that is not ours, tryLater when the Registry
// is unavailable. The error, when non-nil, explains the failure for logs.
func (ca *CA) OCSPResponse(ctx context.Context, reqDER []byte) ([]byte, error) {
	if len(reqDER) > MaxOCSPRequestBytes {
		return ocsp.MalformedRequestErrorResponse, errors.New("pki: OCSP request too large")
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, fmt.Errorf("pki: parse OCSP request: %v", err)
	}
	it, err := ca.ocspIssuer(req)
	if err != nil {
		return ocsp.UnauthorizedErrorResponse, err
	}
	resp, err := ca.responderFor(ctx, it)
	if err != nil {
		return ocsp.InternalErrorErrorResponse, err
	}
	now := ca.now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now,
		NextUpdate:   now.Add(OCSPValidity),
		IssuerHash:   req.HashAlgorithm,
		Certificate:  resp.cert,
	}
	rec, err := ca.reg.GetIssued(ctx, SerialString(req.SerialNumber))
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return ocsp.TryLaterErrorResponse, fmt.Errorf("pki: OCSP lookup: %v", err)
	case rec.IssuerKeyID != it.kid:
		// Issued by another of our intermediates: unknown under this one.
	case rec.Revoked():
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, rec.RevokedAt, int(rec.Reason)
	default:
		tmpl.Status = ocsp.Good
	}
	out, err := ocsp.CreateResponse(it.cert, resp.cert, tmpl, resp.key)
	if err != nil {
		return ocsp.InternalErrorErrorResponse, fmt.Errorf("pki: sign OCSP response: %v", err)
	}
	return out, nil
}

// ocspIssuer finds the intermediate a request's CertID names.
func (ca *CA) ocspIssuer(req *ocsp.Request) (*intermediate, error) {
	if !req.HashAlgorithm.Available() {
		return nil, errors.New("pki: OCSP request hash not available")
	}
	for _, it := range ca.state.Load().byKID {
		if it.signer == nil {
			continue
		}
		var spki struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(it.cert.RawSubjectPublicKeyInfo, &spki); err != nil {
			continue
		}
		h := req.HashAlgorithm.New()
		h.Write(it.cert.RawSubject)
		nameHash := h.Sum(nil)
		h.Reset()
		h.Write(spki.PublicKey.RightAlign())
		if bytes.Equal(nameHash, req.IssuerNameHash) && bytes.Equal(h.Sum(nil), req.IssuerKeyHash) {
			return it, nil
		}
	}
	return nil, errors.New("pki: OCSP request for an issuer that is not ours")
}

// responderFor returns the intermediate's responder, issuing a new one when
// there is none or it has less than OCSPResponderRenewBefore left.
func (ca *CA) responderFor(ctx context.Context, it *intermediate) (*ocspResponder, error) {
	ca.respMu.Lock()
	defer ca.respMu.Unlock()
	now := ca.now()
	if r, ok := ca.responders[it.kid]; ok && r.cert.NotAfter.Sub(now) > OCSPResponderRenewBefore {
		return r, nil
	}
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(OCSPResponderLifetime).Truncate(time.Second)
	if notAfter.After(it.cert.NotAfter) {
		notAfter = it.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "fifthwheel OCSP responder " + it.kid[:8]},
		NotBefore:             now.Add(-ClockSkew).Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1.NullBytes}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, it.cert, key.Public(), it.signer)
	if err != nil {
		return nil, fmt.Errorf("pki: issue OCSP responder: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	rec := IssuedCert{Serial: serialOf(cert), ID: it.kid, Profile: ProfileOCSPResponder,
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), IssuerKeyID: it.kid, DER: der}
	if err := ca.reg.RecordIssued(ctx, rec, IssueBasis{}); err != nil {
		return nil, storeError(err)
	}
	if err := ca.ev.emit(ctx, event.ClassPKI, "issue", event.Accept, event.SeverityInfo, codes.CertIssued,
		principal.Principal{Kind: principal.System, ID: "pki"}, "ca:"+it.kid,
		map[string]any{"serial": rec.Serial, "profile": string(rec.Profile), "not_after": rec.NotAfter, "issuer_key_id": it.kid}); err != nil {
		return nil, err
	}
	r := &ocspResponder{cert: cert, key: key}
	ca.responders[it.kid] = r
	return r, nil
}

// OCSPHandler serves OCSP over plain HTTP (RFC 6960 Appendix A): POST with
// Content-Type application/ocsp-request, or GET with the base64 request as
// the rest of the path. Mount it with http.StripPrefix so the path starts
// at the base64 text, on a route that does not clean paths (base64 may hold
// "//"). OCSP-level errors are 200 responses with an OCSP error status;
// HTTP-level ones (method, media type, size) are problem+json.
func (ca *CA) OCSPHandler() http.Handler {
	maxB64 := base64.StdEncoding.EncodedLen(MaxOCSPRequestBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqDER []byte
		switch r.Method {
		case http.MethodGet:
			enc := strings.TrimPrefix(r.URL.Path, "/")
			if len(enc) > maxB64 {
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, codes.OCSPRequestTooLarge, "the OCSP request is too large"))
				return
			}
			var err error
			if reqDER, err = base64.StdEncoding.DecodeString(enc); err != nil {
				// Some clients use the URL-safe alphabet.
				if reqDER, err = base64.URLEncoding.DecodeString(enc); err != nil {
					reqDER = nil // answered as malformed below
				}
			}
		case http.MethodPost:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/ocsp-request" {
				problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, codes.UnsupportedMediaType, "use application/ocsp-request"))
				return
			}
			reqDER, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOCSPRequestBytes))
			if err != nil {
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, codes.OCSPRequestTooLarge, "the OCSP request is too large"))
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, codes.MethodNotAllowed, "use GET or POST"))
			return
		}
		resp, err := ca.OCSPResponse(r.Context(), reqDER)
		if err != nil {
			lvl := slog.LevelDebug // the client's mistake
			if bytes.Equal(resp, ocsp.TryLaterErrorResponse) || bytes.Equal(resp, ocsp.InternalErrorErrorResponse) {
				lvl = slog.LevelWarn
			}
			ca.log.Log(r.Context(), lvl, "OCSP request not answered", slog.Any("err", err))
		}
		h := w.Header()
		h.Set("Content-Type", "application/ocsp-response")
		h.Set("Content-Length", strconv.Itoa(len(resp)))
		if r.Method == http.MethodGet && err == nil {
			// RFC 5019 §6.2: cacheable for the response's validity.
			h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(OCSPValidity.Seconds())/2))
		} else {
			h.Set("Cache-Control", "no-store")
		}
		_, _ = w.Write(resp)
	})
}
