package forensics

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

const (
	testOrigin  = "fifthwheel.test/audit"
	testVehicle = "truck-0042"
	testKID     = "fk-1"
)

// fixture is a gateway's store with a vehicle, its PKI, its frame key, and
// an audit log, filled through the store API as the gateway fills it.
type fixture struct {
	cfg    store.Config
	st     store.Store
	key    *audit.LogKey
	seq    *audit.Sequencer
	root   *x509.Certificate
	inter  *x509.Certificate
	signer *frame.Ed25519Signer
	now    time.Time
	events int
}

func newFixture(t testing.TB, e storetest.Engine) *fixture {
	t.Helper()
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	key, err := audit.LoadOrCreateKey(ctx, st, sealtest.New(t), testOrigin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st, Key: key}, audit.SequencerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{cfg: cfg, st: st, key: key, seq: seq, now: time.Now().UTC().Truncate(time.Millisecond)}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: testVehicle, Status: store.VehicleActive, CreatedAt: f.now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.makePKI(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if f.signer, err = frame.NewEd25519Signer(priv); err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: testVehicle, KID: testKID, Alg: string(frame.AlgEd25519),
		Material: spki, Status: store.KeyActive, CreatedAt: f.now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// makePKI makes a fleet root, an intermediate and a vehicle certificate
// naming the vehicle's principal URI, and records the certificate.
func (f *fixture) makePKI(t testing.TB) {
	t.Helper()
	mk := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	nb := f.now.Add(-2 * time.Hour)
	rk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test fleet root"}, NotBefore: nb,
		NotAfter: nb.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	f.root = mk(rt, rt, &rk.PublicKey, rk)
	ik, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	it := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test intermediate"}, NotBefore: nb,
		NotAfter: nb.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	f.inter = mk(it, f.root, &ik.PublicKey, rk)
	vk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse("urn:fifthwheel:vehicle:" + testVehicle)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	vt := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: testVehicle}, NotBefore: nb.Add(time.Minute),
		NotAfter: nb.Add(12 * time.Hour), URIs: []*url.URL{u}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	vc := mk(vt, f.inter, &vk.PublicKey, ik)
	if err := f.st.RecordIssued(ctx, store.CertRow{Serial: pki.SerialString(vc.SerialNumber), Kind: "vehicle", ID: testVehicle,
		Profile: "vehicle", NotBefore: vc.NotBefore, NotAfter: vc.NotAfter, IssuerKeyID: "test", DER: vc.Raw}, store.IssueBasis{}); err != nil {
		t.Fatal(err)
	}
}

// record signs a frame and makes the record the ingest path stores.
func (f *fixture) record(t testing.TB, seq uint64, body frame.Body, ts time.Time) store.FrameRecord {
	t.Helper()
	env, err := frame.Sign(f.signer, testKID, &frame.Frame{VehicleID: testVehicle, Epoch: 0, Seq: seq, TS: ts, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	e, err := frame.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(e.Frame())
	return store.FrameRecord{VehicleID: testVehicle, Epoch: 0, Seq: int64(seq), Kind: string(body.Kind()), TS: ts,
		ReceivedAt: ts, Alg: string(e.Alg), KID: e.KID, Hash: h[:], Raw: e.Frame(), Sig: e.Sig, Verdict: "accepted"}
}

func telemetry() *frame.Telemetry {
	return &frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 41.878113, Lon: -87.629799, SpeedMPS: 24.6, HeadingDeg: 271.5, Fix: frame.FixRTK, HDOP: 0.8},
		WheelSpeedMPS: 24.7, OdometerM: 1523467.25, State: frame.StateDriving,
		Health: frame.Health{CPUTempC: 61.5, BatteryV: 27.6, Faults: []string{}}}
}

// appendFrames stores n telemetry frames from seq from and a heartbeat
// after them, and appends the frames' audit items (the fixed references:
// vehicle/epoch/seq over the stored envelope).
func (f *fixture) appendFrames(t testing.TB, from, n int) []store.FrameRecord {
	t.Helper()
	var recs []store.FrameRecord
	var items []audit.Item
	for i := range n {
		r := f.record(t, uint64(from+i), telemetry(), f.now.Add(-time.Duration(n-i)*time.Second))
		recs = append(recs, r)
		items = append(items, FrameItem(r))
	}
	recs = append(recs, f.record(t, uint64(from+n), &frame.Heartbeat{State: frame.StateDriving}, f.now))
	outs, err := f.st.AppendFrames(ctx, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o != store.AppendStored {
			t.Fatalf("frame %d: %v", i, o)
		}
	}
	f.appendItems(t, items...)
	return recs[:n]
}

// appendEvent stores a security event about the vehicle and its item.
func (f *fixture) appendEvent(t testing.TB, code string) store.EventRow {
	t.Helper()
	f.events++
	id := fmt.Sprintf("ev-%d-%d", f.now.UnixNano(), f.events)
	subj := "urn:fifthwheel:vehicle:" + testVehicle
	body, _ := json.Marshal(map[string]any{"id": id, "time": f.now, "class": "telemetry", "verdict": "reject",
		"code": code, "resource": subj, "actor": subj})
	row := store.EventRow{ID: id, Time: f.now.Add(-time.Second), Class: "telemetry", Verdict: "reject", Code: code, Subject: subj, Body: body}
	if err := f.st.AppendEvents(ctx, []store.EventRow{row}); err != nil {
		t.Fatal(err)
	}
	f.appendItems(t, audit.NewItem(audit.KindEvent, id, body))
	return row
}

func (f *fixture) appendItems(t testing.TB, items ...audit.Item) {
	t.Helper()
	rows, err := audit.Rows(items...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.AppendAuditItems(ctx, rows); err != nil {
		t.Fatal(err)
	}
}

// drain sequences every pending item. The PostgreSQL lease is one advisory
// lock for the whole database, so another package's test sequencing in its
// own schema holds it now and then: retry while it is held.
func (f *fixture) drain(t testing.TB) {
	t.Helper()
	if err := drainRetry(f.seq); err != nil {
		t.Fatal(err)
	}
}

func drainRetry(seq *audit.Sequencer) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := seq.Drain(ctx)
		if !errors.Is(err, store.ErrLeaseHeld) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) request() ExportRequest {
	return ExportRequest{Vehicle: testVehicle, Since: f.now.Add(-15 * time.Minute), Until: f.now.Add(time.Second),
		Case: "CASE-21", ExportedBy: "urn:fifthwheel:operator:alice", Now: f.now, FleetRoot: f.root,
		Intermediates: []*x509.Certificate{f.inter}, Wait: 300 * time.Millisecond}
}

func (f *fixture) export(t testing.TB) ([]byte, *Summary) {
	t.Helper()
	b, sum, err := Export(ctx, f.st, f.key, f.request())
	if err != nil {
		t.Fatal(err)
	}
	return b, sum
}

// command stores, through the store as the command service does, a route
// update for vehicle created at at, approved by one approver, queued,
// delivered and answered by the vehicle: its items (creation, 5
// transitions, the approval, issue, delivery, answer) are the store's own.
func (f *fixture) command(t testing.TB, id, vehicle string, at time.Time) {
	t.Helper()
	c := store.Command{ID: id, Vehicle: vehicle, Carrier: "acme-freight", RequestedBy: "urn:fifthwheel:client:acme", Type: "route_update",
		Payload: []byte(`{"waypoints":[]}`), RiskClass: "elevated", ApprovalsRequired: 1, State: store.CommandPendingApproval,
		ExpiresAt: at.Add(time.Hour), CreatedAt: at}
	if err := f.st.CreateCommand(ctx, c, c.RequestedBy, "requested", nil); err != nil {
		t.Fatal(err)
	}
	approver := "urn:fifthwheel:operator:bob"
	if err := f.st.AddApproval(ctx, store.Approval{Command: id, Approver: approver, At: at.Add(time.Second), ExpiresAt: at.Add(16 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	tr := func(from, to store.CommandState, actor string) store.CommandTransition {
		return store.CommandTransition{ID: id, From: from, To: to, At: at.Add(2 * time.Second), Actor: actor, Reason: "test"}
	}
	if _, err := f.st.TransitionCommand(ctx, tr(store.CommandPendingApproval, store.CommandApproved, approver)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.QueueCommand(ctx, tr(store.CommandApproved, store.CommandQueued, "urn:fifthwheel:system:gateway"), []byte("nonce-"+id), at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	dl := tr(store.CommandQueued, store.CommandDelivered, "urn:fifthwheel:system:gateway")
	dl.DeliveredBy = "replica-a"
	if _, err := f.st.TransitionCommand(ctx, dl); err != nil {
		t.Fatal(err)
	}
	an := tr(store.CommandDelivered, store.CommandAccepted, "urn:fifthwheel:vehicle:"+vehicle)
	an.Verdict, an.AnswerReason = "accepted", "ok"
	if _, err := f.st.TransitionCommand(ctx, an); err != nil {
		t.Fatal(err)
	}
}
