package drill

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// caAsClientDrill: a certificate from the fleet's own issuing
// intermediate with an enrolled truck's exact URI SAN and CN, its key
// held by the attacker, but basicConstraints CA:TRUE, must be refused at
// the handshake (the chain verifies, so only the profile check can refuse
// it) and recorded as cert_profile_mismatch for that connection. The
// drill vehicle is revoked when the drill ends, the forgery with it.
func caAsClientDrill(ctx context.Context, t *Target, p *Probe) (err error) {
	if t.IssueCAForgery == nil {
		return errors.New("the target cannot issue the CA-flagged certificate")
	}
	v, err := enroll(ctx, t, "ca-as-client")
	if err != nil {
		return err
	}
	defer v.close()
	defer revokeAfter(ctx, t, p, v.id, "the drill vehicle revoked, the forged certificate with it")
	forged, err := t.IssueCAForgery(ctx, v.id)
	if err != nil {
		return fmt.Errorf("issue the CA-flagged certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(forged.Certificate[0])
	if err != nil {
		return fmt.Errorf("the CA-flagged certificate: %w", err)
	}
	// The attack is what it says: a CA certificate, with the enrolled
	// vehicle's identity.
	want := "CA:TRUE " + v.creds.Chain[0].URIs[0].String()
	got := fmt.Sprintf("CA:%s", strings.ToUpper(strconv.FormatBool(leaf.BasicConstraintsValid && leaf.IsCA)))
	for _, u := range leaf.URIs {
		got += " " + u.String()
	}
	if !p.Check("the forged certificate", want, got) {
		return nil
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	local, herr := t.handshake(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forged, nil }})
	// VerifyConnection's refusals end the handshake with bad_certificate;
	// the reason is in the event.
	p.Check("handshake with a CA certificate carrying the vehicle's identity", alertFromGateway("bad certificate"), refusal(herr))
	return awaitEvent(ctx, t, p, codes.CertProfileMismatch, "", func(r store.EventRow) bool {
		return eventAttr(r, "remote") == local
	})
}

// revokeAfter revokes the drill vehicle id when a drill ends, so that no
// credential it minted stays usable, and records it as a check.
func revokeAfter(ctx context.Context, t *Target, p *Probe, id, what string) {
	if t.Revoke == nil {
		p.Check("clean-up: "+what, "revoked", "the target cannot revoke")
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	got := "revoked"
	if err := t.Revoke(rctx, id); err != nil {
		got = "not revoked: " + err.Error()
	}
	p.Check("clean-up: "+what, "revoked", got)
}

// heldCert is a certificate the attackers of the renewal race hold, and
// when they got it.
type heldCert struct {
	cert tls.Certificate
	got  time.Time
	how  string
}

// renewIssued is renew's outcome for a renewal the gateway granted.
const renewIssued = "issued"

// revocationRaceDrill: chained renewers hold a drill vehicle's credential
// and renew it through POST /v1/pki/renew, each presenting the newest
// certificate it holds, as a truck does; once they hold raceBefore
// renewed certificates the operator revokes the vehicle (Target.Revoke)
// while they go on. After Revoke returns, the drill measures when every
// certificate held is refused at the handshake (SLA: RevocationSLA);
// RevocationSLA after it returned, every certificate held, including
// those obtained during the race, must be refused, no renewal started
// after it returned may have been granted, and a renewal with the newest
// certificate is refused. The refusals must be in the store as
// tls_cert_revoked about the vehicle.
func revocationRaceDrill(ctx context.Context, t *Target, p *Probe) error {
	if t.Revoke == nil {
		return errors.New("the target cannot revoke a vehicle")
	}
	v, err := enroll(ctx, t, "renewal-race")
	if err != nil {
		return err
	}
	defer v.close()
	roots, err := t.roots()
	if err != nil {
		return err
	}
	first := v.tlsCertificate()
	var (
		mu       sync.Mutex
		held     = []heldCert{{cert: first, got: time.Now(), how: "enrolled"}}
		refused  = map[string]int{} // renewals refused, by how
		returned atomic.Int64       // unix nanos when Revoke returned; 0 before
		late     atomic.Int64       // renewals started after Revoke returned that were granted
		stopCh   = make(chan struct{})
		wg       sync.WaitGroup
	)
	stop := sync.OnceFunc(func() { close(stopCh); wg.Wait() })
	defer stop()
	for range raceRenewers {
		wg.Go(func() {
			cur := first
			for range raceMaxAttempts {
				r := returned.Load()
				after := r != 0
				if after && time.Now().After(time.Unix(0, r).Add(RevocationSLA)) {
					return // the check is due
				}
				next, how := renew(ctx, t, roots, v.id, cur)
				if how == renewIssued {
					if after {
						late.Add(1)
					}
					mu.Lock()
					held = append(held, heldCert{cert: next, got: time.Now(), how: "renewed"})
					full := len(held) >= raceMaxHeld
					mu.Unlock()
					if full {
						return
					}
					cur = next
				}
				pause := racePause
				if how != renewIssued {
					mu.Lock()
					refused[how]++
					mu.Unlock()
					pause = raceRetryPause
				}
				select {
				case <-stopCh:
					return
				case <-ctx.Done():
					return
				case <-time.After(pause):
				}
			}
		})
	}
	snapshot := func() []heldCert {
		mu.Lock()
		defer mu.Unlock()
		return append([]heldCert(nil), held...)
	}
	setup := time.Now().Add(raceSetupWait)
	for len(snapshot())-1 < raceBefore && time.Now().Before(setup) && ctx.Err() == nil {
		time.Sleep(racePause)
	}
	before := len(snapshot()) - 1
	if !p.Check("renewals through "+agent.RenewPath+" before the revocation", renewIssued,
		map[bool]string{true: renewIssued, false: "none issued"}[before > 0]) {
		return nil
	}

	start := time.Now()
	if err := t.Revoke(ctx, v.id); err != nil {
		return fmt.Errorf("revoke the drill vehicle: %w", err)
	}
	done := time.Now()
	returned.Store(done.UnixNano())

	// When is every certificate held refused? Certificates still arriving
	// from renewals in flight are included as they come.
	isRefused := map[string]bool{} // by leaf DER
	measured := time.Duration(0)
	for {
		cur := snapshot()
		all := true
		for _, h := range cur {
			key := string(h.cert.Certificate[0])
			if isRefused[key] {
				continue
			}
			_, herr := t.handshake(ctx, certConfig(roots, h.cert))
			if refusal(herr) == alertFromGateway("bad certificate") {
				isRefused[key] = true
			} else {
				all = false
			}
		}
		measured = time.Since(done)
		if all || measured > raceMeasureLimit || ctx.Err() != nil {
			break
		}
		time.Sleep(racePoll)
	}
	p.Timing("every certificate held refused at the handshake after the revocation returned", measured, RevocationSLA)

	// RevocationSLA after Revoke returned: stop the renewers and try every
	// certificate they hold.
	select {
	case <-time.After(time.Until(done.Add(RevocationSLA))):
	case <-ctx.Done():
		return ctx.Err()
	}
	stop()
	final := snapshot()
	accepted := 0
	for i, h := range final {
		phase := "before the revocation"
		switch {
		case h.got.After(done):
			phase = "after the revocation returned"
		case h.got.After(start):
			phase = "during the revocation"
		}
		_, herr := t.handshake(ctx, certConfig(roots, h.cert))
		if !p.Check(fmt.Sprintf("certificate %d of %d (%s %s, serial %x) at revocation + 1 s", i+1, len(final), h.how, phase,
			h.cert.Leaf.SerialNumber), alertFromGateway("bad certificate"), refusal(herr)) {
			accepted++
		}
	}
	p.Check("certificates accepted after revocation + 1 s", "0", strconv.Itoa(accepted))
	mu.Lock()
	summary := refusalSummary(refused)
	mu.Unlock()
	p.Check(fmt.Sprintf("renewals started after the revocation returned that were granted (%d obtained before it, %d in all; refused: %s)",
		before, len(final)-1, summary), "0", strconv.FormatInt(late.Load(), 10))
	_, how := renew(ctx, t, roots, v.id, final[len(final)-1].cert)
	p.Check("renewal with the newest certificate at revocation + 1 s", "refused",
		map[bool]string{true: "refused", false: "granted"}[how != renewIssued])
	// The refusals of one source are aggregated per vehicle (the claimed
	// one) and window: the first ones are recorded on their own.
	return awaitEvent(ctx, t, p, codes.TLSCertRevoked, v.subject(), nil)
}

// refusalSummary is "how ×n, ..." in a stable order.
func refusalSummary(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for how, n := range m {
		parts = append(parts, fmt.Sprintf("%s ×%d", how, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// certConfig presents cert, whatever CAs the gateway asks for.
func certConfig(roots *x509.CertPool, cert tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// tlsCertificate is v's enrolled certificate and key.
func (v *vehicle) tlsCertificate() tls.Certificate {
	cert := tls.Certificate{PrivateKey: v.creds.TLSKey, Leaf: v.creds.Chain[0]}
	for _, c := range v.creds.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert
}

// renew renews vehicle id's certificate cur for a new key through the
// gateway's renewal endpoint, on a connection of its own that presents
// cur, as a truck does (agent: POST RenewPath, {"csr": PEM}). It returns
// the new certificate and renewIssued, or how the renewal was refused.
func renew(ctx context.Context, t *Target, roots *x509.CertPool, id string, cur tls.Certificate) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "drill error: " + err.Error()
	}
	uri := &url.URL{Scheme: "urn", Opaque: "fifthwheel:vehicle:" + id}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		return tls.Certificate{}, "drill error: " + err.Error()
	}
	body, _ := json.Marshal(struct {
		CSR string `json:"csr"`
	}{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
	tr := &http.Transport{TLSClientConfig: certConfig(roots, cur), DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL+agent.RenewPath, bytes.NewReader(body))
	if err != nil {
		return tls.Certificate{}, "drill error: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: requestTimeout}).Do(req)
	if err != nil {
		return tls.Certificate{}, "refused at the handshake or the connection"
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tls.Certificate{}, "answer unreadable"
	}
	if resp.StatusCode != http.StatusCreated {
		var pr struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(b, &pr)
		return tls.Certificate{}, fmt.Sprintf("HTTP %d %s", resp.StatusCode, pr.Code)
	}
	var out struct {
		Certificate string `json:"certificate"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return tls.Certificate{}, "answer not JSON"
	}
	next := tls.Certificate{PrivateKey: key}
	for rest := []byte(out.Certificate); ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		next.Certificate = append(next.Certificate, blk.Bytes)
	}
	if len(next.Certificate) == 0 {
		return tls.Certificate{}, "answer without a certificate"
	}
	if next.Leaf, err = x509.ParseCertificate(next.Certificate[0]); err != nil {
		return tls.Certificate{}, "answer with a bad certificate"
	}
	return next, renewIssued
}
