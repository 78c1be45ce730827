package drill

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

// WebhookReceiver is the SIEM webhook receiver the drills (and the demo)
// stand up for the gateway they start: HTTPS on loopback under an
// ephemeral CA of its own, with the HMAC secret the gateway signs with. It
// checks every batch as a SIEM must (package webhook's Verify: the
// signature over the exact body, the timestamp's tolerance), answers 401
// to one that fails and keeps nothing of it, and records each event of a
// verified batch by its OCSF metadata.uid (the gateway's event id), so a
// drill can ask whether a given event arrived.
//
// It is not a SIEM: it keeps at most MaxReceivedEvents events and only the
// fields a drill checks.
type WebhookReceiver struct {
	srv    *http.Server
	ln     net.Listener
	caPEM  []byte
	secret []byte

	mu       sync.Mutex
	received map[string]ReceivedEvent
	batches  int
	refused  int
}

// ReceivedEvent is an OCSF event the receiver got in a verified batch.
type ReceivedEvent struct {
	At       time.Time // when its batch arrived
	Batch    string    // the batch's Webhook-Id
	ClassUID int
	TypeUID  int
	// SrcURL is the event's src_url (an Incident Finding names its
	// incident there: fifthwheel:incident:ID).
	SrcURL string
}

// MaxReceivedEvents bounds the events a WebhookReceiver keeps; later ones
// are verified and acknowledged, not kept.
const MaxReceivedEvents = 100_000

// maxReceiverBody bounds one batch's body (the gateway's batches are at
// most siem.webhook.batch events of a few KB each).
const maxReceiverBody = 16 << 20

// NewWebhookReceiver starts a receiver on 127.0.0.1 with a new CA and a
// new 32-byte secret.
func NewWebhookReceiver() (*WebhookReceiver, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	cert, caPEM, err := loopbackCertificate()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &WebhookReceiver{ln: ln, caPEM: caPEM, secret: secret, received: map[string]ReceivedEvent{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}
	go func() { _ = r.srv.ServeTLS(ln, "", "") }()
	return r, nil
}

// URL is where the gateway posts (its siem.webhook.url).
func (r *WebhookReceiver) URL() string { return "https://" + r.ln.Addr().String() + "/siem" }

// CAPEM is the receiver's CA certificate (the gateway's
// siem.webhook.ca_file).
func (r *WebhookReceiver) CAPEM() []byte { return r.caPEM }

// Secret is the HMAC secret (the gateway's siem.webhook.secret_file).
func (r *WebhookReceiver) Secret() []byte { return r.secret }

// Close stops the receiver.
func (r *WebhookReceiver) Close() { _ = r.srv.Close() }

// Received returns the event with OCSF metadata.uid uid, if a verified
// batch carried it.
func (r *WebhookReceiver) Received(uid string) (ReceivedEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.received[uid]
	return e, ok
}

// Counts returns how many batches were verified and how many refused.
func (r *WebhookReceiver) Counts() (verified, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches, r.refused
}

func (r *WebhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxReceiverBody+1))
	if err != nil || len(body) > maxReceiverBody {
		http.Error(w, "body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now()
	id, err := webhook.Verify(r.secret, req.Header, body, now)
	if err != nil {
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var batch struct {
		Events []struct {
			ClassUID int    `json:"class_uid"`
			TypeUID  int    `json:"type_uid"`
			SrcURL   string `json:"src_url"`
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		http.Error(w, "not a batch of OCSF events", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.batches++
	for _, e := range batch.Events {
		if len(r.received) >= MaxReceivedEvents {
			break
		}
		r.received[e.Metadata.UID] = ReceivedEvent{At: now, Batch: id, ClassUID: e.ClassUID, TypeUID: e.TypeUID, SrcURL: e.SrcURL}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// loopbackCertificate returns a certificate for 127.0.0.1 issued by a new
// CA, and that CA's PEM. Both keys live only in memory.
func loopbackCertificate() (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fifthwheel drill SIEM receiver CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	if len(der) == 0 {
		return tls.Certificate{}, nil, errors.New("drill: empty receiver certificate")
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
