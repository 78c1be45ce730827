package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// BenchmarkEngine: events evaluated per second by the engine with the
// shipped rules, each event read from its stored row as the detect
// consumer does (events no rule can match are skipped on their code and
// class; the others are parsed, peeked and committed).
//
//	normal:   a healthy fleet's mix (normalHour): mostly accepted-frame
//	          summaries and duplicates, which no rule matches
//	matching: every event matches a rule (clock_skew refusals from 1,000
//	          vehicles), the worst case per event
//
//	go test ./internal/detect -run '^$' -bench Engine -benchtime 3s -count 5
func BenchmarkEngine(b *testing.B) {
	mixes := map[string][]store.EventRow{"normal": normalHour(b, 50, 3)}
	var m []store.EventRow
	for i := range 20_000 {
		m = append(m, row(b, about(GroupVehicle, fmt.Sprintf("truck-%04d", i%1000), codes.ClockSkew, t0.Add(time.Duration(i)*time.Millisecond))))
	}
	mixes["matching"] = m
	for _, name := range []string{"normal", "matching"} {
		rows := mixes[name]
		b.Run(name, func(b *testing.B) {
			eng := NewEngine(Shipped())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evaluate(eng, rows[i%len(rows)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// evaluate is the consumer's per-event work without the store.
func evaluate(eng *Engine, r store.EventRow) {
	if !eng.needsBody(r.Code, r.Class) {
		return
	}
	in := InputOf(r)
	if len(eng.Evaluate(in, false)) >= 0 {
		eng.Evaluate(in, true)
	}
}
