package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// BenchmarkRawEd25519Verify is the ceiling measured in the same run: one
// crypto/ed25519 verify of a telemetry-sized message.
func BenchmarkRawEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 580)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}

// BenchmarkPipeline measures verified, durably stored frames per second
// through Process (decode, identity, key, batch verify, dedup, freshness,
// counter, durable append with group commit, events): batches of 64 frames
// from 20 vehicles, one goroutine per vehicle. Frames are signed before the
// timer starts (so they are sent as the batch path sends them: Backfill,
// which skips only the lower bound of the freshness window). b.N counts
// batches.
func BenchmarkPipeline(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			f := newFleet(b, e.Open(b))
			f.p.now = time.Now
			const vehicles, batch = 20, 64
			work := make([][][][]byte, vehicles) // vehicle → batches → envelopes
			now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Second)
			for v := 0; v < vehicles; v++ {
				veh := fmt.Sprintf("V%02d", v)
				f.enroll(veh, "k1")
			}
			for n := 0; n < b.N; n++ {
				v := n % vehicles
				veh := fmt.Sprintf("V%02d", v)
				seq := uint64(len(work[v]) * batch)
				envs := make([][]byte, batch)
				for i := range envs {
					envs[i] = f.sign(veh, "k1", telemetry(veh, 0, seq+uint64(i), now))
				}
				work[v] = append(work[v], envs)
			}
			var wg sync.WaitGroup
			b.ResetTimer()
			for v := 0; v < vehicles; v++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					veh := fmt.Sprintf("V%02d", v)
					for _, envs := range work[v] {
						res, err := f.p.Process(context.Background(), vehicle(veh), Backfill, BatchKinds, envs)
						if err != nil {
							b.Error(err)
							return
						}
						for _, r := range res {
							if r.Verdict != Accepted || r.Duplicate {
								b.Errorf("%+v", r)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkKeyLookup is what the key cache saves per frame: a frame's
// vehicle status and key (admission's two lookups) read from the store,
// as every entry was once KeyCacheTTL old before the registry change feed,
// against served from the cache, as a hot vehicle's are while the feed is
// followed (keyfeed.go).
func BenchmarkKeyLookup(b *testing.B) {
	for _, e := range storetest.Engines() {
		for _, cached := range []bool{false, true} {
			name := e.Name + "/store_read"
			if cached {
				name = e.Name + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				f := newFleet(b, e.Open(b))
				f.enroll("V1", "k1")
				c, ctx := f.p.keys, context.Background()
				for b.Loop() {
					if !cached {
						f.now = f.now.Add(KeyCacheTTL) // every entry expired
					}
					if s, err := c.vehicleStatus(ctx, f.p.keySt, "V1"); err != nil || s != "active" {
						b.Fatal(s, err)
					}
					if _, s, ok, err := c.key(ctx, f.p.keySt, "V1", "k1"); err != nil || !ok || s != "active" {
						b.Fatal(s, ok, err)
					}
				}
			})
		}
	}
}

// BenchmarkKeyFeedPoll is the cost of one poll of the registry change feed
// with nothing new: what following the feed costs, KeyFeedPoll apart.
func BenchmarkKeyFeedPoll(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			f := newFleet(b, e.Open(b))
			f.enroll("V1", "k1")
			ctx := context.Background()
			for b.Loop() {
				if err := f.p.keys.follow(ctx, f.p.st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
