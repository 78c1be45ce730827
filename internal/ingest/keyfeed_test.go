package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// countingStore counts the registry reads the pipeline makes, and can fail
// or rewrite the registry change feed.
type countingStore struct {
	store.Store
	vehicles, keys, polls atomic.Int64

	mu sync.Mutex
	// feedDown fails RegistryChanges.
	feedDown bool
	// rewrite, if set, replaces what RegistryChanges returns.
	rewrite func(cs []store.RegistryChange, latest int64) ([]store.RegistryChange, int64)
	// afterKeyRead, if set, runs once inside the next GetVehicleKey, after
	// the store answered and before the answer is returned.
	afterKeyRead func()
}

var errFeedDown = errors.New("test: feed down")

func (s *countingStore) GetVehicle(ctx context.Context, id string) (store.Vehicle, error) {
	s.vehicles.Add(1)
	return s.Store.GetVehicle(ctx, id)
}

func (s *countingStore) GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error) {
	s.keys.Add(1)
	k, err := s.Store.GetVehicleKey(ctx, vehicleID, kid)
	s.mu.Lock()
	hook := s.afterKeyRead
	s.afterKeyRead = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return k, err
}

func (s *countingStore) RegistryChanges(ctx context.Context, after int64, limit int) ([]store.RegistryChange, int64, error) {
	s.polls.Add(1)
	s.mu.Lock()
	down, rewrite := s.feedDown, s.rewrite
	s.mu.Unlock()
	if down {
		return nil, 0, errFeedDown
	}
	cs, latest, err := s.Store.RegistryChanges(ctx, after, limit)
	if err == nil && rewrite != nil {
		cs, latest = rewrite(cs, latest)
	}
	return cs, latest, err
}

func (s *countingStore) set(f func(s *countingStore)) { s.mu.Lock(); f(s); s.mu.Unlock() }

// reads is (vehicle reads, key reads) so far.
func (s *countingStore) reads() [2]int64 { return [2]int64{s.vehicles.Load(), s.keys.Load()} }

// feedFleet is a fleet whose pipeline follows the registry change feed
// (one poll made), with T1 (k1) and T2 (k2) enrolled, the store's reads
// counted, and another handle on the same store: another process or
// replica, whose writes reach this pipeline only through the store.
type feedFleet struct {
	*fleet
	cs    *countingStore
	other store.Store
	cfg   store.Config
	seq   map[string]uint64
}

func newFeedFleet(t *testing.T, e storetest.Engine) *feedFleet {
	t.Helper()
	f := newCountedFleet(t, e)
	f.poll()
	return f
}

// newCountedFleet is a feedFleet whose pipeline does not follow the feed
// yet: its key cache keeps entries for KeyCacheTTL, as before the feed.
func newCountedFleet(t *testing.T, e storetest.Engine) *feedFleet {
	t.Helper()
	cfg := e.New(t)
	cs := &countingStore{Store: storetest.OpenConfig(t, cfg)}
	f := &feedFleet{fleet: newFleet(t, cs), cs: cs, other: storetest.OpenConfig(t, cfg), cfg: cfg, seq: map[string]uint64{}}
	f.enroll("T1", "k1")
	f.enroll("T2", "k2")
	return f
}

// poll makes the key cache read the feed once, as its poller does.
func (f *feedFleet) poll() {
	f.t.Helper()
	if err := f.p.keys.follow(context.Background(), f.p.st); err != nil {
		f.t.Fatalf("poll: %v", err)
	}
}

// frame sends vehicle's next live telemetry frame under kid and returns
// the result's code ("" if accepted).
func (f *feedFleet) frame(vehicle, kid string) string {
	f.t.Helper()
	env := f.sign(vehicle, kid, telemetry(vehicle, 0, f.seq[vehicle], f.now))
	f.seq[vehicle]++
	r := f.send(peerOf(vehicle), Live, env)[0]
	if r.Verdict == Accepted {
		return ""
	}
	return r.Code
}

// tick moves the clock on by one poll interval and polls.
func (f *feedFleet) tick() {
	f.now = f.now.Add(KeyFeedPoll)
	f.poll()
}

// peerOf is the principal of vehicle id (vehicle is shadowed where a
// parameter is named so).
func peerOf(id string) principal.Principal { return vehicle(id) }

// newKey makes an Ed25519 key for (vehicle, kid) that frame signs with,
// and returns a function that registers it (and the vehicle, if new)
// through st, another handle than the pipeline's.
func (f *feedFleet) newKey(vehicle, kid string) (register func(st store.Store)) {
	f.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	s, err := frame.NewEd25519Signer(priv)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keys[vehicle+"/"+kid] = s
	return func(st store.Store) {
		f.t.Helper()
		ctx := context.Background()
		if _, err := st.GetVehicle(ctx, vehicle); errors.Is(err, store.ErrNotFound) {
			if err := st.CreateVehicle(ctx, store.Vehicle{ID: vehicle, Status: store.VehicleActive, CreatedAt: f.now}); err != nil {
				f.t.Fatal(err)
			}
		}
		if err := st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: vehicle, KID: kid, Alg: "Ed25519", Material: der, CreatedAt: f.now}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestAttackRetiredKeyStopsAtTheNextPoll: a key retired through another
// handle (another process or replica) stops verifying at the next poll of
// the feed, with the clock standing still: not at the cached entry's
// expiry. (Without the invalidation the retired key kept verifying.)
func TestAttackRetiredKeyStopsAtTheNextPoll(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFeedFleet(t, e)
		if c := f.frame("T1", "k1"); c != "" {
			t.Fatalf("baseline frame refused: %s", c)
		}
		if err := f.other.RetireVehicleKey(context.Background(), "T1", "k1", f.now); err != nil {
			t.Fatal(err)
		}
		f.poll()
		if c := f.frame("T1", "k1"); c != codes.RetiredKID {
			t.Fatalf("a frame under the retired key after the poll: %q, want %s", c, codes.RetiredKID)
		}
	})
}

// TestAttackSuspendedVehicleStopsAtTheNextPoll: likewise for a vehicle
// suspended through another handle.
func TestAttackSuspendedVehicleStopsAtTheNextPoll(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFeedFleet(t, e)
		if c := f.frame("T1", "k1"); c != "" {
			t.Fatalf("baseline frame refused: %s", c)
		}
		if err := f.other.SetVehicleStatus(context.Background(), "T1", store.VehicleSuspended); err != nil {
			t.Fatal(err)
		}
		f.poll()
		if c := f.frame("T1", "k1"); c != codes.VehicleSuspended {
			t.Fatalf("a frame of the suspended vehicle after the poll: %q, want %s", c, codes.VehicleSuspended)
		}
	})
}

// TestKeyFeedHotVehicleReadsTheStoreOnce: while the feed is followed, a
// vehicle sending frames reads its status and key once, however long it
// sends; a change of another vehicle drops that vehicle only.
func TestKeyFeedHotVehicleReadsTheStoreOnce(t *testing.T) {
	f := newFeedFleet(t, storetest.Engines()[0])
	base := f.cs.reads() // the fixture's own reads
	reads := func() [2]int64 { r := f.cs.reads(); return [2]int64{r[0] - base[0], r[1] - base[1]} }
	f.frame("T1", "k1")
	f.frame("T2", "k2")
	if got := reads(); got != [2]int64{2, 2} {
		t.Fatalf("first frames read (vehicles, keys) %v times, want 2 each", got)
	}
	for range 8 * int(KeyCacheTTL/KeyFeedPoll) { // eight KeyCacheTTLs
		f.tick()
		if c := f.frame("T1", "k1"); c != "" {
			t.Fatalf("frame refused: %s", c)
		}
	}
	if got := reads(); got != [2]int64{2, 2} {
		t.Fatalf("a hot vehicle followed by the feed read (vehicles, keys) %v times in all, want the first 2 each", got)
	}
	if err := f.other.SetVehicleStatus(context.Background(), "T2", store.VehicleActive); err != nil {
		t.Fatal(err)
	}
	f.tick()
	f.frame("T1", "k1")
	if got := reads(); got != [2]int64{2, 2} {
		t.Fatalf("a change of T2 made T1 read the store: %v", got)
	}
	f.frame("T2", "k2")
	if got := reads(); got != [2]int64{3, 3} {
		t.Fatalf("after its change T2 read (vehicles, keys) %v in all, want one more each", got)
	}
}

// TestAttackLostFeedFallsBackToTheTTL: when the feed cannot be read, the
// cache vouches for nothing once KeyCacheTTL has passed since the last poll
// that caught up: entries older than KeyCacheTTL are read again, so a key
// retired meanwhile stops verifying within KeyCacheTTL. (A cache that
// trusted its entries while the feed was down would have kept verifying
// the retired key.)
func TestAttackLostFeedFallsBackToTheTTL(t *testing.T) {
	f := newFeedFleet(t, storetest.Engines()[0])
	f.frame("T1", "k1")
	for range 8 { // the entry is now older than KeyCacheTTL: only the feed vouches for it
		f.tick()
	}
	f.cs.set(func(s *countingStore) { s.feedDown = true })
	if err := f.other.RetireVehicleKey(context.Background(), "T1", "k1", f.now); err != nil {
		t.Fatal(err)
	}
	before := f.cs.reads()
	polls := int(KeyCacheTTL / KeyFeedPoll)
	for i := range polls {
		f.now = f.now.Add(KeyFeedPoll)
		if err := f.p.keys.follow(context.Background(), f.p.st); !errors.Is(err, errFeedDown) {
			t.Fatalf("poll with the feed down: %v", err)
		}
		c := f.frame("T1", "k1")
		if i < polls-1 {
			// Within KeyCacheTTL of the last good poll: still vouched for
			// (the promise allows it).
			if c != "" || f.cs.reads() != before {
				t.Fatalf("poll %d: %q, reads %v", i, c, f.cs.reads())
			}
			continue
		}
		// KeyCacheTTL after the last good poll: read again, refused.
		if c != codes.RetiredKID {
			t.Fatalf("KeyCacheTTL after the feed was lost, a frame under the retired key: %q, want %s", c, codes.RetiredKID)
		}
		if got := f.cs.reads(); got[1] != before[1]+1 {
			t.Fatalf("key reads %d, want %d: the stale entry was not read again", got[1], before[1]+1)
		}
	}
	// While the feed stays down, an entry is kept KeyCacheTTL, as without it.
	f.cs.set(func(s *countingStore) { s.feedDown = false })
	f.tick() // caught up again: the retirement applied
	f.enroll("T1", "k3")
	f.frame("T1", "k3")
	f.cs.set(func(s *countingStore) { s.feedDown = true })
	before = f.cs.reads()
	f.now = f.now.Add(KeyCacheTTL)
	f.frame("T1", "k3")
	if got := f.cs.reads(); got != [2]int64{before[0] + 1, before[1] + 1} {
		t.Fatalf("with the feed lost for KeyCacheTTL, reads %v → %v, want one more each", before, got)
	}
}

// TestAttackFeedGapDropsTheCache: the changes after the cache's version
// were pruned before it read them (a retirement among them); the next poll
// finds the gap and drops every entry, so the retired key is read again
// and refused. (Applying only the changes it could read would have kept
// the retired key.)
func TestAttackFeedGapDropsTheCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFeedFleet(t, e)
		f.frame("T1", "k1")
		f.frame("T2", "k2")
		ctx := context.Background()
		if err := f.other.RetireVehicleKey(ctx, "T1", "k1", f.now); err != nil {
			t.Fatal(err)
		}
		// Every change is made old enough to prune; the next registry write
		// (about T2) prunes them, T1's retirement included.
		d := 2 * store.RegistryChangeRetention
		storetest.Exec(t, f.cfg, `UPDATE registry_changes SET at_us = at_us - ?`, `UPDATE registry_changes SET at = at - $1 * interval '1 microsecond'`, d.Microseconds())
		if err := f.other.SetVehicleStatus(ctx, "T2", store.VehicleActive); err != nil {
			t.Fatal(err)
		}
		before := f.cs.reads()
		f.poll()
		if c := f.frame("T1", "k1"); c != codes.RetiredKID {
			t.Fatalf("after a gap in the feed, a frame under the retired key: %q, want %s", c, codes.RetiredKID)
		}
		f.frame("T2", "k2")
		if got := f.cs.reads(); got != [2]int64{before[0] + 2, before[1] + 2} {
			t.Fatalf("reads %v → %v: the gap should have dropped both vehicles", before, got)
		}
		// The cache follows again from where it reset.
		f.tick()
		f.frame("T1", "k1")
		f.frame("T2", "k2")
		if got := f.cs.reads(); got != [2]int64{before[0] + 2, before[1] + 2} {
			t.Fatalf("after the reset, reads %v → %v, want none more", before, got)
		}
	})
}

// TestAttackRestoredStoreDropsTheCache: the feed's version goes below the
// one the cache applied, or another change sits at that version: the store
// was restored from a backup, so what the cache holds may be newer than
// the registry. Every entry is dropped.
func TestAttackRestoredStoreDropsTheCache(t *testing.T) {
	for _, c := range []struct {
		name    string
		rewrite func(cs []store.RegistryChange, latest int64) ([]store.RegistryChange, int64)
	}{
		{"version_went_back", func([]store.RegistryChange, int64) ([]store.RegistryChange, int64) { return nil, 1 }},
		{"another_change_at_the_version", func(cs []store.RegistryChange, latest int64) ([]store.RegistryChange, int64) {
			out := append([]store.RegistryChange(nil), cs...)
			out[0].At = out[0].At.Add(-time.Hour) // the cursor's own change, read back
			return out, latest
		}},
		{"another_vehicle_at_the_version", func(cs []store.RegistryChange, latest int64) ([]store.RegistryChange, int64) {
			out := append([]store.RegistryChange(nil), cs...)
			out[0].VehicleID = "T9"
			return out, latest
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFeedFleet(t, storetest.Engines()[0])
			f.tick() // the cursor's own change is read back and checked
			f.frame("T1", "k1")
			before := f.cs.reads()
			f.cs.set(func(s *countingStore) { s.rewrite = c.rewrite })
			f.tick()
			f.cs.set(func(s *countingStore) { s.rewrite = nil })
			f.frame("T1", "k1")
			if got := f.cs.reads(); got != [2]int64{before[0] + 1, before[1] + 1} {
				t.Fatalf("reads %v → %v: the cache was not dropped", before, got)
			}
		})
	}
}

// TestAttackLookupRacingAChangeIsNotVouchedFor: a lookup reads T1's key,
// the key is retired and the poll drops T1 before the lookup stores what
// it read. That entry may hold the retired key: it is used for KeyCacheTTL
// at most, not for as long as the feed is followed. (Without the check the
// retired key verified for as long as the feed stayed healthy.)
func TestAttackLookupRacingAChangeIsNotVouchedFor(t *testing.T) {
	f := newFeedFleet(t, storetest.Engines()[0])
	f.cs.set(func(s *countingStore) {
		s.afterKeyRead = func() {
			if err := f.other.RetireVehicleKey(context.Background(), "T1", "k1", f.now); err != nil {
				t.Error(err)
			}
			f.poll()
		}
	})
	if c := f.frame("T1", "k1"); c != "" { // read before the retirement
		t.Fatalf("first frame: %q", c)
	}
	for range int(KeyCacheTTL / KeyFeedPoll) {
		f.tick()
	}
	if c := f.frame("T1", "k1"); c != codes.RetiredKID {
		t.Fatalf("KeyCacheTTL after a lookup that raced the retirement, with the feed healthy: %q, want %s", c, codes.RetiredKID)
	}
}

// TestKeyFeedEnrollmentTakesEffectAtOnce: an unknown vehicle or kid is
// never cached as absent, feed or not: a vehicle or key registered through
// another handle verifies at its next frame, before any poll.
func TestKeyFeedEnrollmentTakesEffectAtOnce(t *testing.T) {
	f := newFeedFleet(t, storetest.Engines()[0])
	registerK9 := f.newKey("T1", "k9")
	if c := f.frame("T1", "k9"); c != string(frame.CodeUnknownKID) {
		t.Fatalf("unknown kid: %q", c)
	}
	registerK9(f.other)
	if c := f.frame("T1", "k9"); c != "" {
		t.Fatalf("a key added through another handle, before any poll: %q", c)
	}
	registerT4 := f.newKey("T4", "k4")
	if c := f.frame("T4", "k4"); c != codes.VehicleUnknown {
		t.Fatalf("unknown vehicle: %q", c)
	}
	registerT4(f.other)
	if c := f.frame("T4", "k4"); c != "" {
		t.Fatalf("a vehicle enrolled through another handle, before any poll: %q", c)
	}
}

// TestKeyFeedFirstPollStartsClean: entries cached before the cache follows
// the feed are dropped by its first poll (it never saw the changes before
// it), so a key retired before that poll is read again.
func TestKeyFeedFirstPollStartsClean(t *testing.T) {
	f := newCountedFleet(t, storetest.Engines()[0])
	f.frame("T1", "k1") // cached, not followed yet
	if err := f.other.RetireVehicleKey(context.Background(), "T1", "k1", f.now); err != nil {
		t.Fatal(err)
	}
	f.poll()
	if c := f.frame("T1", "k1"); c != codes.RetiredKID {
		t.Fatalf("after the first poll: %q, want %s", c, codes.RetiredKID)
	}
}

// TestRunKeyFeedPollsUntilCancelled: the poller reads the feed, and
// returns once its context is done.
func TestRunKeyFeedPollsUntilCancelled(t *testing.T) {
	f := newFeedFleet(t, storetest.Engines()[0])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := f.cs.polls.Load()
	go func() { defer close(done); f.p.RunKeyFeed(ctx, nil) }()
	deadline := time.After(30 * time.Second) // a hang, not a timing
	for f.cs.polls.Load() < start+2 {
		select {
		case <-deadline:
			t.Fatal("the poller did not poll")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the poller did not stop with its context")
	}
}

// TestKeyFeedSavesStoreReads counts the registry reads of a fleet sending
// one frame a second each for ten seconds, with the key cache on
// KeyCacheTTL alone (as before the feed) and following the feed. It
// asserts the counts the design implies and logs them (-v).
func TestKeyFeedSavesStoreReads(t *testing.T) {
	const vehicles, seconds = 50, 10
	count := func(follow bool) (reads [2]int64, polls int64) {
		f := newCountedFleet(t, storetest.Engines()[0])
		for i := range vehicles {
			f.enroll(fmt.Sprintf("V%02d", i), "k1")
		}
		if follow {
			f.poll()
		}
		before, pollsBefore := f.cs.reads(), f.cs.polls.Load()
		step := time.Second / vehicles
		for range seconds {
			for i := range vehicles {
				// A poll every KeyFeedPoll, when following.
				if follow && f.now.Add(step).Truncate(KeyFeedPoll) != f.now.Truncate(KeyFeedPoll) {
					f.poll()
				}
				f.now = f.now.Add(step)
				env := f.sign(fmt.Sprintf("V%02d", i), "k1", telemetry(fmt.Sprintf("V%02d", i), 0, 0, f.now))
				if _, _, err := f.p.Authenticate(context.Background(), peerOf(fmt.Sprintf("V%02d", i)), Expect{Kinds: BatchKinds}, env); err != nil {
					t.Fatal(err)
				}
			}
		}
		after := f.cs.reads()
		return [2]int64{after[0] - before[0], after[1] - before[1]}, f.cs.polls.Load() - pollsBefore
	}
	ttl, _ := count(false)
	feed, polls := count(true)
	t.Logf("%d vehicles × %d s at 1 frame/s: KeyCacheTTL alone: %d vehicle + %d key reads; following the feed: %d + %d, and %d feed polls",
		vehicles, seconds, ttl[0], ttl[1], feed[0], feed[1], polls)
	if ttl != [2]int64{vehicles * seconds, vehicles * seconds} {
		t.Fatalf("KeyCacheTTL alone read %v, want a read of each per frame (a frame per vehicle per KeyCacheTTL)", ttl)
	}
	if feed != [2]int64{vehicles, vehicles} {
		t.Fatalf("following the feed read %v, want one of each per vehicle", feed)
	}
}
