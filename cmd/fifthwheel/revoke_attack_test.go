package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
)

// Bounds of the renewal race below, so it stops by itself.
const (
	attackRenewers = 3                // concurrent renewers, as in issue 15
	attackBefore   = 15               // renewals obtained before the revoke starts
	attackDeadline = 60 * time.Second // the whole attack, whatever happens
)

// attackEnv lets the renewers renew as fast as they can: the per-principal
// renewal limit (pki.renew_per_minute, tested by TestAttackRenewalFlood)
// would otherwise stop them after pki.renew_burst, and this test is about
// what the store decides, not the limiter.
var attackEnv = []string{"FIFTHWHEEL_PKI_RENEW_PER_MINUTE=600", "FIFTHWHEEL_PKI_RENEW_BURST=1000"}

// TestAttackRenewalRacesRevocation (issue 15): three attackers hold a stolen
// vehicle credential and renew it in a loop, each presenting the certificate
// its previous renewal returned, while an operator runs
// `pki revoke --vehicle` (the CLI code path, in-process, its own store
// handle). When the command returns, every certificate the attackers
// obtained, before, during or after it, must be refused by every gateway
// within revocationSLA (1 s): a telemetry POST with it fails at the
// handshake. On SQLite with one gateway, and on PostgreSQL with two gateways
// sharing the store and the CA, the renewers alternating between them.
//
// The margin: the check starts once revocationSLA has passed since the
// command returned, so every certificate must be refused by then; a
// gateway learns of the revocation within one pki.revocation_poll (200 ms)
// on SQLite and within milliseconds by NOTIFY on PostgreSQL. Renewals that
// start after the command returned must all be refused.
//
// Before the fix, revoke --vehicle revoked a snapshot of serials one by one
// while Renew checked revocation outside the recording transaction: most
// renewed certificates survived the command.
func TestAttackRenewalRacesRevocation(t *testing.T) {
	// Sequential (no t.Parallel): it asserts revocationSLA, which a
	// parallel neighbour's load could break.
	t.Run("sqlite", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "d")
		g := startGateway(t, data, []string{"--data", data}, attackEnv)
		renewalRace(t, []*gateway{g})
	})
	t.Run("postgres_two_gateways", func(t *testing.T) {
		a, b := pgReplicas(t, attackEnv...)
		renewalRace(t, []*gateway{a, b})
	})
}

// stolenCert is one credential the attackers hold, and when they got it.
type stolenCert struct {
	cert tls.Certificate
	got  time.Time
}

func renewalRace(t *testing.T, gws []*gateway) {
	first, _ := gws[0].issue("vehicle", "truck-1")
	roots := gws[0].roots()
	// post sends body to path on gateway g with credential c, on a
	// connection of its own.
	post := func(g *gateway, c tls.Certificate, path string, body []byte) (int, []byte, error) {
		tr := &http.Transport{TLSClientConfig: clientTLSConfig(roots, c), DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		resp, err := cl.Post("https://"+g.addrs.Vehicle+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	uri, _ := url.Parse("urn:fifthwheel:vehicle:truck-1")
	renew := func(g *gateway, cur tls.Certificate) (tls.Certificate, int, []byte, error) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
		if err != nil {
			return tls.Certificate{}, 0, nil, err
		}
		body, _ := json.Marshal(enroll.RenewRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		status, resp, err := post(g, cur, "/v1/pki/renew", body)
		if err != nil || status != http.StatusCreated {
			return tls.Certificate{}, status, resp, err
		}
		var got enroll.Response
		if err := json.Unmarshal(resp, &got); err != nil {
			return tls.Certificate{}, status, resp, err
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		c, err := tls.X509KeyPair([]byte(got.Certificate), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
		return c, status, resp, err
	}

	var (
		mu        sync.Mutex
		stolen    = []stolenCert{{cert: first, got: time.Now()}}
		refusals  = map[string]int{} // status and code of refused renewals
		returned  atomic.Int64       // unix nanos when the revoke command returned; 0 before
		lateRenew atomic.Int64       // renewals started after the command returned that succeeded
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(attackDeadline)
	for w := range attackRenewers {
		wg.Go(func() {
			cur := first
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				startedAfter := returned.Load() != 0
				next, status, body, err := renew(gws[(w+i)%len(gws)], cur)
				if err != nil || status != http.StatusCreated {
					var p struct{ Code string }
					_ = json.Unmarshal(body, &p)
					key := fmt.Sprintf("%d %s", status, p.Code)
					if err != nil {
						key = "transport error"
					}
					mu.Lock()
					refusals[key]++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond) // as an attacker would retry
					continue
				}
				if startedAfter {
					lateRenew.Add(1)
				}
				mu.Lock()
				stolen = append(stolen, stolenCert{cert: next, got: time.Now()})
				mu.Unlock()
				cur = next
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(stolen)
	}
	for count() < attackBefore && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if count() < attackBefore {
		close(stop)
		wg.Wait()
		t.Fatalf("the renewers obtained only %d certificates before the deadline; refusals: %v", count(), refusals)
	}

	start := time.Now()
	out := gws[0].mustCLI("pki", "revoke", "--vehicle", "truck-1", "--reason", "key_compromise")
	done := time.Now()
	returned.Store(done.UnixNano())
	// Let the renewers go on (every attempt must now fail) until the
	// margin has passed, then stop them and check what they hold.
	time.Sleep(time.Until(done.Add(revocationSLA)))
	close(stop)
	wg.Wait()
	checkAt := time.Now()

	mu.Lock()
	defer mu.Unlock()
	during := 0
	for _, s := range stolen {
		if s.got.After(start) {
			during++
		}
	}
	t.Logf("revoke --vehicle took %v and revoked %d certificates; the renewers obtained %d (%d after it started); refused renewals: %v",
		done.Sub(start).Round(time.Millisecond), strings.Count(out, "revoked "), len(stolen), during, refusals)
	if n := lateRenew.Load(); n != 0 {
		t.Errorf("%d renewals that started after the revoke command returned succeeded", n)
	}
	if refusals[fmt.Sprintf("%d %s", http.StatusForbidden, codes.RenewCertRevoked)]+refusals["transport error"] == 0 {
		t.Errorf("no renewal was refused after the revocation: refusals %v", refusals)
	}
	accepted := 0
	for i, s := range stolen {
		for _, g := range gws {
			status, body, err := post(g, s.cert, "/v1/vehicle/telemetry", []byte(`{"frames":[]}`))
			if err == nil {
				accepted++
				t.Errorf("certificate %d (%s, obtained %v after the revoke started) accepted by %s %v after the command returned: %d %s",
					i, s.cert.Leaf.SerialNumber.Text(16), s.got.Sub(start).Round(time.Millisecond), g.addrs.Vehicle,
					checkAt.Sub(done).Round(time.Millisecond), status, body)
			}
		}
	}
	if accepted > 0 {
		t.Fatalf("%d of %d (certificate, gateway) pairs still accepted %v after the revoke command returned; want none after %v",
			accepted, len(stolen)*len(gws), checkAt.Sub(done).Round(time.Millisecond), revocationSLA)
	}
}
