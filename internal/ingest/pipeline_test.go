package ingest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// fleet is a test fixture: a store with registered vehicles and keys, a
// pipeline, and the events it emitted. Keys are generated per test (TEST
// ONLY).
type fleet struct {
	t       testing.TB
	st      store.Store
	p       *Pipeline
	mem     *event.MemorySink
	now     time.Time
	keys    map[string]frame.Signer // "vehicle/kid" → signer
	secrets SecretSealer            // seals HS256 secrets, as the gateway's secrets key does
	// tick closes a summary interval of the fleet's pipelines; summaries
	// receives each write of accepted-frame summaries (summarySink).
	tick      chan time.Time
	summaries chan []event.Event
}

func newFleet(t testing.TB, st store.Store) *fleet {
	f := &fleet{t: t, st: st, mem: &event.MemorySink{}, keys: map[string]frame.Signer{},
		now: time.Now().UTC().Truncate(time.Millisecond), secrets: newSecretsKey(t),
		tick: make(chan time.Time), summaries: make(chan []event.Event, 16)}
	f.p = f.pipeline(f.secrets)
	return f
}

// summarySink passes on every write's frames_accepted_summary events.
type summarySink chan []event.Event

func (s summarySink) Write(_ context.Context, evs []event.Encoded) error {
	var sums []event.Event
	for _, e := range evs {
		if e.Event.Code == codes.FramesAcceptedSummary {
			sums = append(sums, e.Event)
		}
	}
	if len(sums) > 0 {
		s <- sums
	}
	return nil
}

// closeInterval ends the summary interval of f.p at f.now and returns the
// summaries it recorded (there must be some: an interval without stored
// frames records nothing, and there would be nothing to wait for).
func (f *fleet) closeInterval() map[string]event.Event {
	f.t.Helper()
	f.tick <- f.now
	select {
	case evs := <-f.summaries:
		return byVehicle(f.t, evs)
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		f.t.Fatal("no summary recorded after the interval ended")
		return nil
	}
}

// byVehicle indexes summaries by vehicle id, refusing two of one vehicle.
func byVehicle(t testing.TB, evs []event.Event) map[string]event.Event {
	t.Helper()
	out := map[string]event.Event{}
	for _, e := range evs {
		if _, dup := out[e.Actor.ID]; dup {
			t.Fatalf("two summaries of %s in one write: %+v", e.Actor.ID, evs)
		}
		out[e.Actor.ID] = e
	}
	return out
}

// newAttackFleet is the fleet the attack tests start from: T1 and T2
// enrolled (keys k1, k2), and T1's frame seq 10 of epoch 0 accepted, so a
// replay or an older counter has something to collide with. It returns T1.
func newAttackFleet(t *testing.T, st store.Store) (*fleet, principal.Principal) {
	t.Helper()
	f := newFleet(t, st)
	f.enroll("T1", "k1")
	f.enroll("T2", "k2")
	t1 := vehicle("T1")
	if r := f.send(t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 10, f.now))); r[0].Verdict != Accepted {
		t.Fatalf("baseline frame: %+v", r[0])
	}
	return f, t1
}

// pipeline returns a new pipeline on the fleet's store that opens sealed
// secrets with secrets.
func (f *fleet) pipeline(secrets SecretSealer) *Pipeline {
	f.t.Helper()
	p, err := New(Config{}, Deps{Store: f.st, Events: event.NewBus(nil, nil, f.mem, summarySink(f.summaries)),
		Now: func() time.Time { return f.now }, Secrets: secrets, SummaryTick: f.tick})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = p.Close() })
	return p
}

// newSecretsKey is a secrets key as serve opens it: in a CA directory,
// under a KEK (TEST ONLY, made per test).
func newSecretsKey(t testing.TB) SecretSealer {
	t.Helper()
	dir := t.TempDir()
	if err := pki.CreateKeyFile(filepath.Join(dir, "kek")); err != nil {
		t.Fatal(err)
	}
	kek, err := pki.LoadKeyFileKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := pki.OpenSecretsKey(filepath.Join(dir, "pki"), kek)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// enroll registers vehicle with an Ed25519 key under kid.
func (f *fleet) enroll(vehicle, kid string) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.GetVehicle(ctx, vehicle); errors.Is(err, store.ErrNotFound) {
		if err := f.st.CreateVehicle(ctx, store.Vehicle{ID: vehicle, Status: "active", CreatedAt: f.now}); err != nil {
			f.t.Fatal(err)
		}
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	if err := f.st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: vehicle, KID: kid, Alg: "Ed25519", Material: der, CreatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	s, err := frame.NewEd25519Signer(priv)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[vehicle+"/"+kid] = s
}

func (f *fleet) enrollES256(vehicle, kid string) {
	f.t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err := f.st.AddVehicleKey(context.Background(), store.VehicleKey{VehicleID: vehicle, KID: kid, Alg: "ES256", Material: der, CreatedAt: f.now}); err != nil {
		f.t.Fatal(err)
	}
	s, err := frame.NewES256Signer(priv)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[vehicle+"/"+kid] = s
}

func (f *fleet) enrollHS256(vehicle, kid string) {
	f.t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	sk, err := SealVehicleKey(store.VehicleKey{VehicleID: vehicle, KID: kid, Alg: "HS256", Material: secret, CreatedAt: f.now}, f.secrets)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.AddVehicleKey(context.Background(), sk); err != nil {
		f.t.Fatal(err)
	}
	k, err := frame.NewHS256Key(secret)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[vehicle+"/"+kid] = k
}

func telemetry(vehicle string, epoch, seq uint64, ts time.Time) *frame.Frame {
	return &frame.Frame{VehicleID: vehicle, Epoch: epoch, Seq: seq, TS: ts, Body: &frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 32.7767, Lon: -96.797, SpeedMPS: 24.6, HeadingDeg: 91.5, Fix: frame.Fix3D, HDOP: 0.8},
		WheelSpeedMPS: 24.9, OdometerM: 1234567.8, State: frame.StateDriving,
		Health: frame.Health{CPUTempC: 61.5, BatteryV: 27.6, Faults: []string{}}}}
}

// sign signs fr with the key registered as signer/kid.
func (f *fleet) sign(signer, kid string, fr *frame.Frame) []byte {
	f.t.Helper()
	env, err := frame.Sign(f.keys[signer+"/"+kid], kid, fr)
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

func vehicle(id string) principal.Principal {
	return principal.Principal{Kind: principal.Vehicle, ID: id}
}

func (f *fleet) send(peer principal.Principal, src Source, envs ...[]byte) []Result {
	f.t.Helper()
	kinds := BatchKinds
	if src == Live {
		kinds = []frame.Kind{frame.KindTelemetry, frame.KindHeartbeat}
	}
	res, err := f.p.Process(context.Background(), peer, src, kinds, envs)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fleet) stored(vehicle string) int {
	fs, err := f.st.ListFrames(context.Background(), vehicle, time.Time{}, time.Now().Add(24*time.Hour), 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(fs)
}

// expectReject asserts one rejection with code, its event, and no change to
// the vehicle's stored frames.
func (f *fleet) expectReject(t *testing.T, peer principal.Principal, src Source, env []byte, code string) {
	t.Helper()
	before := f.stored(peer.ID)
	nEv := len(f.mem.ByCode(code))
	res := f.send(peer, src, env)
	if res[0].Verdict != Rejected || res[0].Code != code {
		t.Fatalf("result %+v, want rejected %s", res[0], code)
	}
	if got := len(f.mem.ByCode(code)); got != nEv+1 {
		t.Fatalf("%d %s events, want exactly one more than %d", got, code, nEv)
	}
	ev := f.mem.ByCode(code)[nEv]
	if ev.Verdict != event.Reject || ev.Class != event.ClassTelemetry || ev.Actor != peer {
		t.Fatalf("event %+v", ev)
	}
	if after := f.stored(peer.ID); after != before {
		t.Fatalf("a rejected frame changed the archive: %d → %d frames", before, after)
	}
}

// TestAttacks: every telemetry attack the threat model names, on both
// engines. Each is refused with its reason code and exactly one event, and
// changes nothing.
func TestAttacks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f, t1 := newAttackFleet(t, e.Open(t))

		t.Run("replayed_frame", func(t *testing.T) {
			env := f.sign("T1", "k1", telemetry("T1", 0, 11, f.now))
			if r := f.send(t1, Live, env); r[0].Verdict != Accepted || r[0].Duplicate {
				t.Fatalf("first send: %+v", r[0])
			}
			latest, _ := f.st.LatestFrame(context.Background(), "T1", "telemetry")
			n, dups := f.stored("T1"), len(f.mem.ByCode(codes.FrameDuplicate))
			f.now = f.now.Add(time.Hour) // whatever its age
			r := f.send(t1, Live, env)
			f.now = f.now.Add(-time.Hour)
			if r[0].Verdict != Accepted || !r[0].Duplicate {
				t.Fatalf("exact re-send: %+v, want accepted duplicate", r[0])
			}
			if f.stored("T1") != n {
				t.Fatal("the re-send was stored again")
			}
			if l, _ := f.st.LatestFrame(context.Background(), "T1", "telemetry"); l.Seq != latest.Seq || !bytes.Equal(l.Raw, latest.Raw) {
				t.Fatal("the re-send changed the latest state")
			}
			if len(f.mem.ByCode(codes.FrameDuplicate)) != dups+1 {
				t.Fatal("no duplicate event for detection to count")
			}
		})
		t.Run("replay_with_bumped_ts_but_old_seq", func(t *testing.T) {
			// An attacker editing ts breaks the signature...
			env := f.sign("T1", "k1", telemetry("T1", 0, 11, f.now))
			tampered := bytes.Replace(env, []byte(f.now.Format("2006-01-02T15:04:05.000Z")), []byte(f.now.Add(time.Second).Format("2006-01-02T15:04:05.000Z")), 1)
			f.expectReject(t, t1, Live, tampered, string(frame.CodeBadSignature))
			// ...and a signed frame reusing an accepted seq with a new ts is a replay.
			f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 11, f.now.Add(time.Second))), codes.Replay)
		})
		t.Run("counter_rollback", func(t *testing.T) {
			f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 3, f.now)), codes.StaleCounter)
		})
		t.Run("epoch_jump_without_authorization", func(t *testing.T) {
			f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 1, 0, f.now)), codes.EpochNotAuthorized)
		})
		t.Run("tampered_field_after_signing", func(t *testing.T) {
			env := f.sign("T1", "k1", telemetry("T1", 0, 20, f.now))
			tampered := bytes.Replace(env, []byte(`"lat":32.7767`), []byte(`"lat":32.7768`), 1)
			if bytes.Equal(env, tampered) {
				t.Fatal("fixture: nothing replaced")
			}
			f.expectReject(t, t1, Live, tampered, string(frame.CodeBadSignature))
		})
		t.Run("signature_from_another_vehicles_key", func(t *testing.T) {
			// T2's key and kid: the kid is not T1's.
			f.expectReject(t, t1, Live, f.sign("T2", "k2", telemetry("T1", 0, 21, f.now)), string(frame.CodeUnknownKID))
			// T2's key under T1's kid: the signature does not verify.
			env, _ := frame.Sign(f.keys["T2/k2"], "k1", telemetry("T1", 0, 21, f.now))
			f.expectReject(t, t1, Live, env, string(frame.CodeBadSignature))
		})
		t.Run("vehicle_id_not_matching_the_certificate", func(t *testing.T) {
			// T1's certificate sending a frame that claims to be T2, signed with T2's key.
			f.expectReject(t, t1, Live, f.sign("T2", "k2", telemetry("T2", 0, 1, f.now)), codes.VehicleMismatch)
			if f.stored("T2") != 0 {
				t.Fatal("spoofed frame stored for T2")
			}
		})
		t.Run("unknown_kid", func(t *testing.T) {
			env, _ := frame.Sign(f.keys["T1/k1"], "k-nope", telemetry("T1", 0, 22, f.now))
			f.expectReject(t, t1, Live, env, string(frame.CodeUnknownKID))
		})
		t.Run("retired_kid", func(t *testing.T) {
			f.enroll("T1", "k-old")
			if err := f.st.RetireVehicleKey(context.Background(), "T1", "k-old", f.now); err != nil {
				t.Fatal(err)
			}
			f.now = f.now.Add(2 * KeyCacheTTL) // past the cache
			f.expectReject(t, t1, Live, f.sign("T1", "k-old", telemetry("T1", 0, 23, f.now)), codes.RetiredKID)
		})
		t.Run("alg_none", func(t *testing.T) {
			env := f.sign("T1", "k1", telemetry("T1", 0, 24, f.now))
			none := bytes.Replace(env, []byte(`"alg":"Ed25519"`), []byte(`"alg":"none"`), 1)
			f.expectReject(t, t1, Live, none, string(frame.CodeAlgNotAllowed))
		})
		t.Run("alg_outside_the_vehicles_allow_list", func(t *testing.T) {
			// An HS256 MAC keyed with the Ed25519 public key's bytes: the
			// classic key-confusion attempt. The kid's key is Ed25519 only.
			k, _ := f.st.GetVehicleKey(context.Background(), "T1", "k1")
			mac, err := frame.NewHS256Key(append(append([]byte{}, k.Material...), k.Material...)[:44])
			if err != nil {
				t.Fatal(err)
			}
			env, _ := frame.Sign(mac, "k1", telemetry("T1", 0, 25, f.now))
			f.expectReject(t, t1, Live, env, string(frame.CodeAlgMismatch))
		})
		t.Run("non_canonical_bytes_with_valid_signature_over_canonical_form", func(t *testing.T) {
			env := f.sign("T1", "k1", telemetry("T1", 0, 26, f.now))
			// Same frame, members re-spaced: a parser would read the same
			// values, and the signature is valid over the canonical bytes.
			nonCanon := bytes.Replace(env, []byte(`"epoch":0,`), []byte(`"epoch": 0,`), 1)
			f.expectReject(t, t1, Live, nonCanon, string(frame.CodeNotCanonical))
		})
		t.Run("clock_skew_beyond_the_window", func(t *testing.T) {
			f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 27, f.now.Add(-6*time.Second))), codes.ClockSkew)
			f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 27, f.now.Add(6*time.Second))), codes.ClockSkew)
			f.expectReject(t, t1, Backfill, f.sign("T1", "k1", telemetry("T1", 0, 27, f.now.Add(6*time.Second))), codes.ClockSkew)
		})
		t.Run("suspended_vehicle", func(t *testing.T) {
			f.enroll("T3", "k3")
			f.st.SetVehicleStatus(context.Background(), "T3", "suspended")
			f.expectReject(t, vehicle("T3"), Live, f.sign("T3", "k3", telemetry("T3", 0, 1, f.now)), codes.VehicleSuspended)
		})
		t.Run("heartbeat_on_the_batch_path", func(t *testing.T) {
			hb := &frame.Frame{VehicleID: "T1", Epoch: 0, Seq: 28, TS: f.now, Body: &frame.Heartbeat{State: frame.StateDriving}}
			f.expectReject(t, t1, Backfill, f.sign("T1", "k1", hb), codes.FrameKindNotAllowed)
		})
	})
}

// Backfill: older frames are accepted when strictly newer than the last one.
func TestBackfill(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		f.enroll("T1", "k1")
		old := f.now.Add(-10 * time.Minute)
		var envs [][]byte
		for seq := uint64(0); seq < 5; seq++ {
			envs = append(envs, f.sign("T1", "k1", telemetry("T1", 0, seq, old.Add(time.Duration(seq)*time.Second))))
		}
		for i, r := range f.send(vehicle("T1"), Backfill, envs...) {
			if r.Verdict != Accepted || r.Duplicate {
				t.Fatalf("frame %d: %+v", i, r)
			}
		}
		// The same old frames on the live path are re-sends: duplicates.
		for i, r := range f.send(vehicle("T1"), Live, envs...) {
			if r.Verdict != Accepted || !r.Duplicate {
				t.Fatalf("re-send %d on live path: %+v", i, r)
			}
		}
		if f.stored("T1") != 5 {
			t.Fatalf("%d stored", f.stored("T1"))
		}
	})
}

func TestEveryAlg(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		f.enroll("T1", "ed")
		f.enrollES256("T1", "es")
		f.enrollHS256("T1", "hs")
		res := f.send(vehicle("T1"), Live,
			f.sign("T1", "ed", telemetry("T1", 0, 1, f.now)),
			f.sign("T1", "es", telemetry("T1", 0, 2, f.now)),
			f.sign("T1", "hs", telemetry("T1", 0, 3, f.now)))
		for i, r := range res {
			if r.Verdict != Accepted {
				t.Fatalf("frame %d: %+v", i, r)
			}
		}
		got := f.closeInterval()["T1"].Attrs["by_assurance"]
		if want := map[string]any{"high": int64(2), "low": int64(1)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("summary by_assurance %v, want %v (HS256 is low)", got, want)
		}
	})
}

// Invariant 3 across replicas: two pipelines (two gateways) on one store,
// the same frames sent through both at once: each stored exactly once.
func TestSameFrameThroughTwoGateways(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		a := newFleet(t, storetest.OpenConfig(t, cfg))
		a.enroll("T1", "k1")
		b := newFleet(t, storetest.OpenConfig(t, cfg))
		b.keys, b.now = a.keys, a.now
		const n = 40
		envs := make([][]byte, n)
		for i := range envs {
			envs[i] = a.sign("T1", "k1", telemetry("T1", 0, uint64(i), a.now))
		}
		var wg sync.WaitGroup
		results := make([][]Result, 2)
		for gi, g := range []*fleet{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, env := range envs {
					r, err := g.p.Process(context.Background(), vehicle("T1"), Live, BatchKinds, [][]byte{env})
					if err != nil {
						t.Error(err)
						return
					}
					results[gi] = append(results[gi], r[0])
				}
			}()
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			x, y := results[0][i], results[1][i]
			if x.Verdict != Accepted || y.Verdict != Accepted || x.Duplicate == y.Duplicate {
				t.Errorf("frame %d: %+v / %+v; want one stored and one duplicate", i, x, y)
			}
		}
		if a.stored("T1") != n {
			t.Fatalf("%d stored, want %d", a.stored("T1"), n)
		}
	})
}

type downStore struct{ Store }

func (downStore) GetVehicle(context.Context, string) (store.Vehicle, error) {
	return store.Vehicle{}, errors.New("connection refused")
}

// Fail closed: a store that cannot answer fails the call; nothing is acked.
func TestStoreDownFailsClosed(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	p, err := New(Config{}, Deps{Store: downStore{f.st}, Events: event.NewBus(nil, nil, f.mem)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Process(context.Background(), vehicle("T1"), Live, BatchKinds, [][]byte{f.sign("T1", "k1", telemetry("T1", 0, 1, f.now))})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if f.stored("T1") != 0 {
		t.Fatal("stored while failing closed")
	}
}
