package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// BenchmarkAppendEventParallel measures durable single-event appends from
// many goroutines: on SQLite this is the group commit at work.
func BenchmarkAppendEventParallel(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			st := e.Open(b)
			b.SetParallelism(16)
			var n int64
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					id := fmt.Sprintf("%p-%d-%d", pb, i, time.Now().UnixNano())
					if err := st.AppendEvents(context.Background(), []store.EventRow{ev(id, "bench", "s", time.Now())}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			_ = n
		})
	}
}

// benchFrame is a telemetry record of realistic size (a ~560-byte frame,
// an Ed25519 signature) for vehicle v at seq.
func benchFrame(v string, seq int64) store.FrameRecord {
	r := rec(v, 0, seq, strings.Repeat("x", 500))
	r.Sig = make([]byte, 64)
	r.TS, r.ReceivedAt = time.Now(), time.Now()
	return r
}

// BenchmarkAppendFrames measures durable frame appends, no events, as the
// two paths make them: the batch path (20 vehicles, one goroutine each, 64
// telemetry frames per AppendFrames call) and the session path (200
// vehicles, one frame per call, heartbeats and telemetry in turn). b.N
// counts calls; frames/s is reported.
func BenchmarkAppendFrames(b *testing.B) {
	for _, shape := range []struct {
		name            string
		vehicles, batch int
	}{{"batch64", 20, 64}, {"session", 200, 1}} {
		for _, e := range storetest.Engines() {
			b.Run(shape.name+"/"+e.Name, func(b *testing.B) {
				st := e.Open(b)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for v := range shape.vehicles {
					wg.Add(1)
					go func() {
						defer wg.Done()
						id := fmt.Sprintf("B%03d", v)
						seq := int64(0)
						for next.Add(1) <= int64(b.N) {
							recs := make([]store.FrameRecord, shape.batch)
							for i := range recs {
								recs[i] = benchFrame(id, seq)
								if shape.batch == 1 && seq%2 == 0 {
									recs[i].Kind = store.HeartbeatKind
								}
								seq++
							}
							if _, err := st.AppendFrames(context.Background(), recs, 0); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N*shape.batch)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
