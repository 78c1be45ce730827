package session

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"github.com/fifthwheel/fifthwheel/codes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// registryStore counts the registry reads admission makes, and fails them
// on demand.
type registryStore struct {
	store.Store
	vehicles, keys atomic.Int64
	down           atomic.Bool
}

var errRegistryDown = errors.New("test: registry down")

func (s *registryStore) GetVehicle(ctx context.Context, id string) (store.Vehicle, error) {
	s.vehicles.Add(1)
	if s.down.Load() {
		return store.Vehicle{}, errRegistryDown
	}
	return s.Store.GetVehicle(ctx, id)
}

func (s *registryStore) GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error) {
	s.keys.Add(1)
	if s.down.Load() {
		return store.VehicleKey{}, errRegistryDown
	}
	return s.Store.GetVehicleKey(ctx, vehicleID, kid)
}

// testClock is the pipeline's clock in a test: it moves only when told, so
// the key cache expires exactly when the test says.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// postBatch sends env alone on the batch path with v's certificate and
// returns its result's code, or the problem code of a whole-batch refusal.
func (g *gw) postBatch(v *vehicle, env []byte) string {
	g.t.Helper()
	body := append(append([]byte(`{"frames":[`), env...), "]}"...)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: g.tlsConfig(v)}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(g.url+"/v1/vehicle/telemetry", "application/json", bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var pb problem.Body
		if err := json.NewDecoder(resp.Body).Decode(&pb); err != nil {
			g.t.Fatalf("batch answered %d: %v", resp.StatusCode, err)
		}
		return pb.Code
	}
	var out struct{ Results []ingest.BatchResult }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != 1 {
		g.t.Fatalf("batch results %+v: %v", out, err)
	}
	return out.Results[0].Code
}

// TestHandshakeAndBatchPathRefuseAlike: the session handshake and the
// batch path admit frames through one path (ingest's admission), so the
// same defect gets the same reason code on both, on both store engines; a
// registry that cannot answer refuses on both (fail closed).
func TestHandshakeAndBatchPathRefuseAlike(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		rs := &registryStore{Store: e.Open(t)}
		g := newGateway(t, rs, gwOptions{cfg: fastConfig(), noLiveness: true})
		ctx := context.Background()
		v := g.enroll("truck-1")
		other := g.enroll("truck-2")
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		ghost := g.certify("truck-ghost", k, "k-ghost")
		susp := g.enroll("truck-susp")
		if err := rs.SetVehicleStatus(ctx, "truck-susp", "suspended"); err != nil {
			t.Fatal(err)
		}
		ret := g.enroll("truck-ret")
		if err := rs.RetireVehicleKey(ctx, "truck-ret", ret.kid, time.Now()); err != nil {
			t.Fatal(err)
		}
		down := g.enroll("truck-down")
		_, wrongKey, _ := ed25519.GenerateKey(rand.Reader)
		wrong, _ := frame.NewEd25519Signer(wrongKey)
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		es256, _ := frame.NewES256Signer(ecKey)
		sign := func(s frame.Signer, kid string, f *frame.Frame) []byte {
			env, err := frame.Sign(s, kid, f)
			if err != nil {
				t.Fatal(err)
			}
			return env
		}

		for _, tc := range []struct {
			name string
			v    *vehicle
			env  func(f *frame.Frame) []byte // f: a fresh frame of v, a hello or a telemetry frame
			want string
		}{
			{"envelope not canonical", v, func(*frame.Frame) []byte {
				return []byte(`{"alg":"Ed25519","kid":"` + v.kid + `","frame":{ "v":1},"sig":"` + string(make64()) + `"}`)
			}, "not_canonical"},
			{"vehicle_id of another vehicle, signed with its key", v, func(f *frame.Frame) []byte {
				f.VehicleID = other.id
				return sign(other.signer, other.kid, f)
			}, codes.VehicleMismatch},
			{"vehicle not registered", ghost, func(f *frame.Frame) []byte { return sign(ghost.signer, ghost.kid, f) }, codes.VehicleUnknown},
			{"vehicle suspended", susp, func(f *frame.Frame) []byte { return sign(susp.signer, susp.kid, f) }, codes.VehicleSuspended},
			{"kid not registered", v, func(f *frame.Frame) []byte { return sign(wrong, "k-unknown", f) }, string(frame.CodeUnknownKID)},
			{"frame key retired", ret, func(f *frame.Frame) []byte { return sign(ret.signer, ret.kid, f) }, codes.RetiredKID},
			{"ES256 envelope under an Ed25519 key's kid", v, func(f *frame.Frame) []byte { return sign(es256, v.kid, f) }, string(frame.CodeAlgMismatch)},
			{"signed with another key under the vehicle's kid", v, func(f *frame.Frame) []byte { return sign(wrong, v.kid, f) }, string(frame.CodeBadSignature)},
			{"ts a minute in the future", v, func(f *frame.Frame) []byte {
				f.TS = f.TS.Add(time.Minute)
				return sign(v.signer, v.kid, f)
			}, codes.ClockSkew},
			{"registry unavailable", down, func(f *frame.Frame) []byte {
				rs.down.Store(true)
				return sign(down.signer, down.kid, f)
			}, codes.StoreUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer rs.down.Store(false)
				c := g.dial(tc.v)
				if err := c.write(tc.env(c.frame(&frame.Hello{Nonce: make([]byte, 32), State: frame.StateDriving}))); err != nil {
					t.Fatal(err)
				}
				if _, code := c.closed(); code != tc.want {
					t.Errorf("handshake refused with %q, want %q", code, tc.want)
				}
				tm := sampleTelemetry()
				f := &frame.Frame{VehicleID: tc.v.id, Seq: 1, TS: time.Now().UTC().Truncate(time.Millisecond), Body: &tm}
				if code := g.postBatch(tc.v, tc.env(f)); code != tc.want {
					t.Errorf("batch path refused with %q, want %q", code, tc.want)
				}
			})
		}
	})
}

// TestHandshakeReadsTheRegistryThroughTheKeyCache: a handshake reads the
// vehicle and its key once (for the hello); the challenge_response, the
// heartbeats and the next handshake within ingest.KeyCacheTTL are answered
// from the pipeline's key cache. (The session used to read both for each
// handshake frame: four reads a handshake.)
func TestHandshakeReadsTheRegistryThroughTheKeyCache(t *testing.T) {
	clk := newTestClock() // stands still: the cache does not expire
	rs := &registryStore{Store: storetest.Engines()[0].Open(t)}
	g := newGateway(t, rs, gwOptions{cfg: fastConfig(), noLiveness: true, pipelineNow: clk.now})
	v := g.enroll("truck-1")
	reads := func() [2]int64 { return [2]int64{rs.vehicles.Load(), rs.keys.Load()} }

	c := g.dial(v)
	c.handshake(frame.StateDriving)
	if got := reads(); got != [2]int64{1, 1} {
		t.Fatalf("a handshake read (vehicle, key) %v times, want once each: the challenge_response should hit the key cache", got)
	}
	c.send(&frame.Heartbeat{State: frame.StateDriving})
	c.expect(frame.KindAck)
	c2 := g.dial(v)
	c2.seq = c.seq // the vehicle's counter goes on
	c2.handshake(frame.StateDriving)
	if got := reads(); got != [2]int64{1, 1} {
		t.Fatalf("a heartbeat and a second handshake read (vehicle, key) %v times in all, want the cache's one each", got)
	}
	// Past the cache's life the registry is read again: a suspension or a
	// retirement takes effect.
	clk.add(ingest.KeyCacheTTL)
	c2.send(&frame.Heartbeat{State: frame.StateDriving})
	c2.expect(frame.KindAck)
	if got := reads(); got != [2]int64{2, 2} {
		t.Fatalf("after KeyCacheTTL (vehicle, key) were read %v times, want twice each", got)
	}
}

// TestAttackSuspendedVehicleReconnectsOnACachedStatus: an operator
// suspends a vehicle and its session is cut off (pki.SuspensionWatch); the
// vehicle reconnects at once, while the pipeline's key cache still holds
// it as active, and completes a handshake. Its first frame past the cache
// is refused (vehicle_suspended) and ends the session, as a suspension
// does: 4005 vehicle_suspended, event session_closed_suspended.
func TestAttackSuspendedVehicleReconnectsOnACachedStatus(t *testing.T) {
	clk := newTestClock()
	st := storetest.Engines()[0].Open(t)
	g := newGateway(t, st, gwOptions{cfg: fastConfig(), pipelineNow: clk.now})
	v := g.enroll("truck-1")
	c := g.dial(v)
	c.handshake(frame.StateDriving) // the cache now holds truck-1 as active

	ctx := context.Background()
	if err := st.SetVehicleStatus(ctx, "truck-1", "suspended"); err != nil {
		t.Fatal(err)
	}
	if n := g.tracker.ClosePrincipal(ctx, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, codes.SessionClosedSuspended); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	if status, reason := c.closed(); status != CloseRefused || reason != codes.VehicleSuspended {
		t.Fatalf("cut off with %d %q", status, reason)
	}
	before := g.count(codes.SessionClosedSuspended)

	c2 := g.dial(v)
	c2.send(&frame.Hello{Nonce: make([]byte, 32), State: frame.StateDriving})
	f, err := c2.read()
	if err != nil {
		t.Fatalf("the handshake on the cached status did not proceed: %v", err)
	}
	ch := f.Body.(*frame.Challenge)
	c2.send(&frame.ChallengeResponse{Nonce: ch.Nonce})
	c2.expect(frame.KindReady) // established on the cached status

	clk.add(ingest.KeyCacheTTL)
	seq := c2.send(&frame.Heartbeat{State: frame.StateDriving})
	if n := c2.expect(frame.KindNack).Body.(*frame.Nack); n.AckSeq != seq || n.Reason != codes.VehicleSuspended {
		t.Fatalf("nack %+v", n)
	}
	if status, reason := c2.closed(); status != CloseRefused || reason != codes.VehicleSuspended {
		t.Fatalf("the suspended vehicle's session ended with %d %q, want %d %q", status, reason, CloseRefused, codes.VehicleSuspended)
	}
	g.waitEvent(codes.SessionClosedSuspended, before+1)
}
