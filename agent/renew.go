package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// renewLoop renews the certificate at RenewAt of its life (± jitter), and
// retries failures with backoff until it succeeds or the certificate
// expires (then only re-enrollment helps, and connections report
// KindExpired).
func (a *Agent) renewLoop(ctx context.Context) {
	backoff := renewRetryMin
	for {
		leaf := a.cred.Load().chain[0]
		at := renewTime(leaf.NotBefore, leaf.NotAfter, a.cfg.RenewAt, jitterFraction(a.cfg.RenewJitter, randFloat()))
		if !sleepUntil(ctx, a.now, at) {
			return
		}
		if a.cred.Load().chain[0] != leaf {
			continue // renewed meanwhile
		}
		err := a.RenewNow(ctx)
		if err == nil {
			backoff = renewRetryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventRenewalFailed, Err: err, Code: codeOf(err)}})
		a.mu.Unlock()
		if !sleepUntil(ctx, a.now, a.now().Add(fullJitter(backoff))) {
			return
		}
		backoff = min(2*backoff, renewRetryMax)
	}
}

func randFloat() float64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// sleepUntil waits until t (by now) or ctx is done; false if ctx is done.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// RenewNow renews the certificate now: it makes a CSR for the vehicle's
// identity (with Deps.NewTLSKey's key, or the current one), has the
// Renewer sign it, checks the result names this vehicle and key, and uses
// it for the next connections. The running session keeps its certificate
// (still valid) until it reconnects.
func (a *Agent) RenewNow(ctx context.Context) error {
	cur := a.cred.Load()
	key := cur.key
	if a.d.NewTLSKey != nil {
		k, err := a.d.NewTLSKey()
		if err != nil {
			return fmt.Errorf("agent: new TLS key: %w", err)
		}
		key = k
	}
	uri, _ := url.Parse(vehiclePrefix + a.vehicle)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: a.vehicle}, URIs: []*url.URL{uri}}, key)
	if err != nil {
		return fmt.Errorf("agent: make CSR: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	chain, err := a.renewer.Renew(rctx, csr)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return connErr(KindProtocol, CodeBadPKIResponse, errors.New("the renewal returned no certificate"))
	}
	if id, err := VehicleIDOf(chain[0]); err != nil || id != a.vehicle {
		return connErr(KindProtocol, CodeBadPKIResponse, errors.New("the renewed certificate does not name this vehicle"))
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return connErr(KindProtocol, CodeBadPKIResponse, errors.New("the renewed certificate is not for the requested key"))
	}
	if now := a.now(); now.Before(chain[0].NotBefore) || now.After(chain[0].NotAfter) {
		return connErr(KindProtocol, CodeBadPKIResponse, errors.New("the renewed certificate is not valid now"))
	}
	a.cred.Store(newCredential(chain, key))
	if a.d.OnRenewed != nil {
		a.d.OnRenewed(chain, key)
	}
	a.mu.Lock()
	a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventCertificateRenewed}})
	a.mu.Unlock()
	return nil
}

// httpRenewer is the default Renewer: POST /v1/pki/renew on the gateway's
// vehicle listener, authenticated by the current certificate
// (docs/PROTOCOL.md, "Enrollment and renewal"):
//
//	request: Content-Type: application/json, {"csr":"<PEM CERTIFICATE REQUEST>"}
//	answer:  201, {"certificate":"<PEM leaf, then intermediate>", "ca":..., "serial":..., "not_after":...}
//	refusal: problem+json with a reason code
type httpRenewer struct{ a *Agent }

func (r httpRenewer) Renew(ctx context.Context, csrDER []byte) ([]*x509.Certificate, error) {
	body, _ := json.Marshal(struct {
		CSR string `json:"csr"`
	}{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))})
	res, err := r.a.postPKI(ctx, r.a.httpc, RenewPath, body)
	if err != nil {
		return nil, err
	}
	return parseChainPEM([]byte(res.Certificate))
}

// pkiResponse is the answer of enrollment and renewal.
type pkiResponse struct {
	Certificate string    `json:"certificate"`
	CA          string    `json:"ca"`
	Serial      string    `json:"serial"`
	NotAfter    time.Time `json:"not_after"`
	FrameKID    string    `json:"frame_kid"`
}

// postPKI posts a JSON body to an enrollment or renewal endpoint.
func (a *Agent) postPKI(ctx context.Context, hc *http.Client, path string, body []byte) (*pkiResponse, error) {
	return postPKI(ctx, hc, a.base, path, body, a.revoked)
}

func postPKI(ctx context.Context, hc *http.Client, base *url.URL, path string, body []byte,
	revoked func(context.Context) (bool, error)) (*pkiResponse, error) {
	u := *base
	u.Path = path
	rctx, mark := gatewayRequest(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, classifyDial(ctx, mark(err), nil, revoked)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, connErr(KindNetwork, "", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, classifyProblem(resp.StatusCode, b, fmt.Errorf("%s answered %s", path, resp.Status))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, connErr(KindProtocol, CodeBadPKIResponse, fmt.Errorf("%s answered %q, not JSON", path, mt))
	}
	var out pkiResponse
	if err := json.Unmarshal(b, &out); err != nil || out.Certificate == "" {
		return nil, connErr(KindProtocol, CodeBadPKIResponse, fmt.Errorf("%s answered a body without a certificate", path))
	}
	return &out, nil
}

// parseChainPEM parses PEM CERTIFICATE blocks and nothing else.
func parseChainPEM(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, connErr(KindProtocol, CodeBadPKIResponse, errors.New("the certificate chain is not PEM CERTIFICATE blocks"))
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, connErr(KindProtocol, CodeBadPKIResponse, err)
		}
		chain = append(chain, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(chain) == 0 {
		return nil, connErr(KindProtocol, CodeBadPKIResponse, errors.New("no certificate in the answer"))
	}
	return chain, nil
}

// revoked reports whether the issuer's CRL lists the current certificate.
// It proves revocation only with a CRL that the certificate's own issuer
// (the next certificate in its chain) signed; anything else is an error.
func (a *Agent) revoked(ctx context.Context) (bool, error) {
	chain := a.cred.Load().chain
	leaf := chain[0]
	if len(chain) < 2 || len(leaf.CRLDistributionPoints) == 0 {
		return false, errors.New("agent: no CRL to consult")
	}
	ctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, leaf.CRLDistributionPoints[0], nil)
	if err != nil {
		return false, err
	}
	resp, err := a.plain.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("agent: CRL answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLBytes))
	if err != nil {
		return false, err
	}
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == "X509 CRL" {
		b = blk.Bytes
	}
	rl, err := x509.ParseRevocationList(b)
	if err != nil {
		return false, err
	}
	if err := rl.CheckSignatureFrom(chain[1]); err != nil {
		return false, err
	}
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return true, nil
		}
	}
	return false, nil
}
