package store_test

import (
	"context"
	"fmt"
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
