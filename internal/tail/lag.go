package tail

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// LagStore is what the lag sampler reads of the store.
type LagStore interface {
	EventStreamHead(ctx context.Context) (store.StreamPos, error)
	StreamConsumers(ctx context.Context) ([]store.StreamConsumer, error)
	ReadEventStream(ctx context.Context, after store.StreamPos, limit int) ([]store.StreamEvent, error)
}

// Lag exports every stream consumer's lag as stored, whichever replica
// serves it, as two gauges by consumer name:
//
//   - fifthwheel_stream_consumer_lag_events: the stream's head minus the
//     consumer's cursor (positions may skip, so at most that many events);
//   - fifthwheel_stream_consumer_lag_seconds: the age of the oldest event
//     the consumer has not consumed (now − its stored time), 0 when caught
//     up.
//
// Sample reads the store (the head, the consumers, and the first event
// after each distinct cursor behind the head); the gauges show the last
// sample. After a failed sample they show nothing, rather than a stale
// "caught up".
type Lag struct {
	st  LagStore
	now func() time.Time

	events, seconds *prometheus.Desc

	mu   sync.Mutex
	last []lagSample
}

type lagSample struct {
	name    string
	events  float64
	seconds float64
}

// NewLag returns a sampler of st's consumers and registers its gauges in
// reg (nil: not registered). now is the clock (nil: time.Now).
func NewLag(st LagStore, reg prometheus.Registerer, now func() time.Time) (*Lag, error) {
	if now == nil {
		now = time.Now
	}
	l := &Lag{st: st, now: now,
		events: prometheus.NewDesc("fifthwheel_stream_consumer_lag_events",
			"Event stream positions between the stream's head and the consumer's stored cursor, by consumer "+
				"(every replica's consumers; sampled every second).", []string{"consumer"}, nil),
		seconds: prometheus.NewDesc("fifthwheel_stream_consumer_lag_seconds",
			"Age of the oldest event the consumer has not consumed (from the event's stored time), 0 when caught up, "+
				"by consumer (sampled every second).", []string{"consumer"}, nil),
	}
	if reg != nil {
		if err := reg.Register(l); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Describe implements prometheus.Collector.
func (l *Lag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.events
	ch <- l.seconds
}

// Collect implements prometheus.Collector: the last sample.
func (l *Lag) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	for _, s := range last {
		ch <- prometheus.MustNewConstMetric(l.events, prometheus.GaugeValue, s.events, s.name)
		ch <- prometheus.MustNewConstMetric(l.seconds, prometheus.GaugeValue, s.seconds, s.name)
	}
}

// Sample reads the consumers' lag from the store. On an error the gauges
// are cleared and the error returned.
func (l *Lag) Sample(ctx context.Context) error {
	out, err := l.sample(ctx)
	l.mu.Lock()
	l.last = out
	l.mu.Unlock()
	return err
}

func (l *Lag) sample(ctx context.Context) ([]lagSample, error) {
	head, err := l.st.EventStreamHead(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := l.st.StreamConsumers(ctx)
	if err != nil {
		return nil, err
	}
	now := l.now()
	oldest := map[store.StreamPos]float64{} // cursor -> age of the event after it
	out := make([]lagSample, 0, len(cs))
	for _, c := range cs {
		s := lagSample{name: c.Name, events: float64(max(0, head-c.Pos))}
		if c.Pos < head {
			age, ok := oldest[c.Pos]
			if !ok {
				evs, err := l.st.ReadEventStream(ctx, c.Pos, 1)
				if err != nil {
					return nil, err
				}
				if len(evs) > 0 {
					age = max(0, now.Sub(evs[0].Time).Seconds())
				}
				oldest[c.Pos] = age
			}
			s.seconds = age
		}
		out = append(out, s)
	}
	return out, nil
}

// Run samples every LagSampleEvery until ctx ends. onError, if set, is
// told when sampling starts failing (once, not every second, until a
// sample succeeds again).
func (l *Lag) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(LagSampleEvery)
	defer t.Stop()
	failing := false
	for {
		sctx, cancel := context.WithTimeout(ctx, LagSampleEvery)
		err := l.Sample(sctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !failing && onError != nil {
			onError(err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
