package sim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// commLost is a comm_lost event as the liveness monitor records it.
func commLost(id string, lastHB time.Time, span, lag time.Duration) gwEvent {
	dl := lastHB.Add(span)
	return gwEvent{Code: codes.CommLost, Vehicle: id, Time: dl.Add(lag), Attrs: map[string]any{
		"last_heartbeat": lastHB.Format(time.RFC3339Nano), "deadline": dl.Format(time.RFC3339Nano),
		"detection_latency_ms": float64(lag.Milliseconds())}}
}

// The report's classification: a comm_lost during an outage is expected, a
// comm_lost of a healthy truck is false, one that follows the agents'
// shutdown is neither, and a blackout the gateway never declared is
// undetected.
func TestReportClassifiesCommLost(t *testing.T) {
	const span = 3 * time.Second
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	end := t0.Add(60 * time.Second)
	blackout := Faults{Blackout: Window{At: 20 * time.Second, For: 10 * time.Second}}
	bStart := t0.Add(20 * time.Second)
	trucks := []truckResult{
		{ID: "a", Faults: blackout, Sessions: []sessionSpan{{start: start}}, Stops: []stopEpisode{{V0: 25, Began: bStart.Add(2500 * time.Millisecond),
			Safe: bStart.Add(13 * time.Second), Resumed: bStart.Add(16 * time.Second), ResumeSession: bStart.Add(11 * time.Second)}}},
		{ID: "b", Faults: blackout, Sessions: []sessionSpan{{start: start}}},                                // never declared: undetected
		{ID: "e", Faults: blackout, Sessions: []sessionSpan{{start: start, end: bStart.Add(-time.Second)}}}, // not connected then: nothing to detect
		{ID: "c"}, // healthy
		{ID: "d"}, // healthy, silent only at shutdown
		{ID: "f"}, // healthy; its namesake of an earlier run was declared as this run began
	}
	gw := newGatewayLog(nil)
	gw.evs[codes.CommLost] = []gwEvent{
		commLost("a", bStart.Add(-400*time.Millisecond), span, 30*time.Millisecond),
		commLost("c", t0.Add(40*time.Second), span, 20*time.Millisecond),
		commLost("d", end.Add(-500*time.Millisecond), span, 10*time.Millisecond),
		commLost("zz", bStart, span, 0),                                    // not ours
		commLost("f", start.Add(-2*time.Second), span, 5*time.Millisecond), // silent since before this run
	}
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	r := buildReport(reportInput{cfg: cfg, started: start, t0: t0, end: end, ready: 4, trucks: trucks, gw: gw, gwSource: "test"})

	g := r.Gateway
	if g.CommLost != 2 || g.Expected != 1 || g.False != 1 || g.FalseIDs[0] != "c" || g.AtShutdown != 1 || g.EarlierRun != 1 {
		t.Fatalf("comm_lost %d, expected %d, false %d %v, at shutdown %d, earlier run %d", g.CommLost, g.Expected, g.False, g.FalseIDs, g.AtShutdown, g.EarlierRun)
	}
	if g.Blackouts != 2 || g.Undetected != 1 || g.UndetectedIDs[0] != "b" {
		t.Fatalf("blackouts %d, undetected %d %v", g.Blackouts, g.Undetected, g.UndetectedIDs)
	}
	if g.Detection.N != 2 || g.Detection.Max != 3030 {
		t.Fatalf("detection %+v", g.Detection)
	}
	v := r.Vehicle
	// Began − span = bStart − 0.5 s: the last proof; safe_state 13.5 s later.
	if v.LastAckToSafeState.N != 1 || v.LastAckToSafeState.Max != 13500 || v.LinkLossToStopping.Max != 2500 || v.FalseStops != 0 {
		t.Fatalf("vehicle figures %+v", v)
	}
	results := map[string]string{}
	for _, s := range r.SLAs {
		results[s.Name] = s.Result
	}
	want := map[string]string{
		"vehicle: last answered heartbeat → safe_state, from cruise": Pass,
		"gateway: last heartbeat → comm_lost":                        Pass,
		"gateway: false comm_lost":                                   Fail,
		"gateway: blackouts without comm_lost":                       Fail,
	}
	for name, res := range want {
		if results[name] != res {
			t.Errorf("%s: %s, want %s", name, results[name], res)
		}
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil || !strings.Contains(b.String(), "FAIL") {
		t.Fatalf("table: %v\n%s", err, b.String())
	}
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
}

func TestDist(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := distOf(ds)
	if d.N != 100 || d.Min != 1 || d.P50 != 50 || d.P99 != 99 || d.Max != 100 {
		t.Fatalf("%+v", d)
	}
	if (distOf(nil) != Dist{}) {
		t.Fatal("empty")
	}
}

// testCA issues vehicle certificates for provisioner tests.
type testCA struct {
	root    *x509.Certificate
	rootKey crypto.Signer
	rootPEM []byte
}

func newTestCA(t *testing.T) *testCA {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{root: c, rootKey: k, rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, id string, life time.Duration) Credentials {
	tlsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, frameKey, _ := ed25519.GenerateKey(rand.Reader)
	u, _ := url.Parse("urn:fifthwheel:vehicle:" + id)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(life)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, tlsKey.Public(), ca.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return Credentials{Chain: []*x509.Certificate{leaf}, TLSKey: tlsKey, FrameKey: frameKey, FrameKID: "k-" + id}
}

type countingProvisioner struct {
	ca    *testCA
	t     *testing.T
	life  time.Duration
	calls int
}

func (p *countingProvisioner) Provision(_ context.Context, id string) (Credentials, error) {
	p.calls++
	return p.ca.issue(p.t, id, p.life), nil
}

// Credentials are enrolled once and reused while they chain to the fleet
// root and stay valid long enough; otherwise the truck is enrolled again.
func TestCachedProvisioner(t *testing.T) {
	ca := newTestCA(t)
	next := &countingProvisioner{ca: ca, t: t, life: 24 * time.Hour}
	dir := t.TempDir()
	p := &CachedProvisioner{Dir: dir, RootPEM: ca.rootPEM, MinValidity: time.Hour, Next: next}
	ctx := context.Background()
	first, err := p.Provision(ctx, "sim-00001")
	if err != nil || first.Reused {
		t.Fatalf("first: reused %v, %v", first.Reused, err)
	}
	again, err := p.Provision(ctx, "sim-00001")
	if err != nil || !again.Reused || next.calls != 1 {
		t.Fatalf("second: reused %v, enrollments %d, %v", again.Reused, next.calls, err)
	}
	if !again.Chain[0].Equal(first.Chain[0]) || again.FrameKID != first.FrameKID ||
		!again.FrameKey.Public().(ed25519.PublicKey).Equal(first.FrameKey.Public()) {
		t.Fatal("cached credentials differ from the enrolled ones")
	}
	// Another fleet (another root): enrolled again.
	other := newTestCA(t)
	p2 := &CachedProvisioner{Dir: dir, RootPEM: other.rootPEM, MinValidity: time.Hour, Next: &countingProvisioner{ca: other, t: t, life: 24 * time.Hour}}
	if c, err := p2.Provision(ctx, "sim-00001"); err != nil || c.Reused {
		t.Fatalf("other fleet: reused %v, %v", c.Reused, err)
	}
	// Expiring within MinValidity: enrolled again.
	short := &countingProvisioner{ca: ca, t: t, life: 30 * time.Minute}
	p3 := &CachedProvisioner{Dir: t.TempDir(), RootPEM: ca.rootPEM, MinValidity: time.Hour, Next: short}
	p3.Provision(ctx, "sim-00002")
	if c, _ := p3.Provision(ctx, "sim-00002"); c.Reused || short.calls != 2 {
		t.Fatalf("expiring credentials reused (enrollments %d)", short.calls)
	}
}

// A truck that stopped with its link up fails the vehicle-side false-alarm
// SLA, even when the gateway declared nothing.
func TestReportStopWithoutOutageFails(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	t0 := start.Add(10 * time.Second)
	trucks := []truckResult{
		{ID: "a", Sessions: []sessionSpan{{start: start}}, Stops: []stopEpisode{{V0: 25, Began: t0.Add(5 * time.Second),
			Safe: t0.Add(16 * time.Second), Resumed: t0.Add(20 * time.Second), ResumeSession: start}}},
		{ID: "b", Sessions: []sessionSpan{{start: start}}},
	}
	cfg := Config{HeartbeatInterval: time.Second, Misses: 3}.withDefaults()
	r := buildReport(reportInput{cfg: cfg, started: start, t0: t0, end: t0.Add(60 * time.Second), ready: 2, trucks: trucks,
		gw: newGatewayLog(nil), gwSource: "test"})
	for _, s := range r.SLAs {
		if s.Name == "vehicle: stops without a link outage" {
			if s.Result != Fail || s.Value != 1 {
				t.Fatalf("%+v, want a failure counting 1", s)
			}
			return
		}
	}
	t.Fatal("no SLA row for stops without an outage")
}
