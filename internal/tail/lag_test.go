package tail_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

// gauges returns name{consumer} -> value from reg.
func gauges(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "consumer")] = m.GetGauge().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestLagGauges: the sampler reports, for every consumer in the store,
// head − cursor and the age of the oldest event it has not consumed (0
// when caught up), and the figures move when a consumer advances.
func TestLagGauges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
		for i, id := range []string{"a1", "a2", "a3"} {
			if err := st.AppendEvents(ctx, []store.EventRow{{ID: id, Time: t0.Add(time.Duration(i) * 10 * time.Second),
				Class: "test", Verdict: "reject", Code: "replay", Subject: "s", Body: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := st.ReadEventStream(ctx, 0, 10)
		if err != nil || len(evs) != 3 {
			t.Fatalf("stream: %v %v", evs, err)
		}
		head := evs[2].Pos
		for _, c := range []struct {
			name string
			pos  store.StreamPos
		}{{"behind", 0}, {"middle", evs[1].Pos}, {"caught-up", head}} {
			if _, _, err := st.ClaimStreamConsumer(ctx, c.name, "h", time.Minute, false); err != nil {
				t.Fatal(err)
			}
			if c.pos > 0 {
				if err := st.AdvanceStreamConsumer(ctx, c.name, "h", c.pos); err != nil {
					t.Fatal(err)
				}
			}
		}
		reg := prometheus.NewRegistry()
		now := t0.Add(time.Minute)
		lag, err := tail.NewLag(st, reg, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		if err := lag.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		wantEvents := map[string]float64{"behind": float64(head), "middle": float64(head - evs[1].Pos), "caught-up": 0}
		wantSeconds := map[string]float64{"behind": 60, "middle": 40, "caught-up": 0}
		check := func(wantEvents, wantSeconds map[string]float64) {
			t.Helper()
			for name, want := range map[string]map[string]float64{
				"fifthwheel_stream_consumer_lag_events": wantEvents, "fifthwheel_stream_consumer_lag_seconds": wantSeconds} {
				got := gauges(t, reg, name)
				if len(got) != len(want) {
					t.Errorf("%s: %v, want %v", name, got, want)
				}
				for c, w := range want {
					if g, ok := got[c]; !ok || g != w {
						t.Errorf("%s{consumer=%q} = %v (present %v), want %v", name, c, g, ok, w)
					}
				}
			}
		}
		check(wantEvents, wantSeconds)

		if err := st.AdvanceStreamConsumer(ctx, "behind", "h", head); err != nil {
			t.Fatal(err)
		}
		if err := lag.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		wantEvents["behind"], wantSeconds["behind"] = 0, 0
		check(wantEvents, wantSeconds)
	})
}

// downStore fails EventStreamHead while down.
type downStore struct {
	tail.LagStore
	down bool
}

func (s *downStore) EventStreamHead(ctx context.Context) (store.StreamPos, error) {
	if s.down {
		return 0, errors.New("store down")
	}
	return s.LagStore.EventStreamHead(ctx)
}

// TestLagClearedOnFailure: a failed sample clears the gauges rather than
// leave the last figures (a consumer stuck behind would look as it did
// before the store went away).
func TestLagClearedOnFailure(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := storetest.OpenConfig(t, storetest.SQLiteConfig(t))
	if _, _, err := st.ClaimStreamConsumer(ctx, "c", "h", time.Minute, false); err != nil {
		t.Fatal(err)
	}
	ds := &downStore{LagStore: st}
	lag, err := tail.NewLag(ds, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := lag.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if got := gauges(t, reg, "fifthwheel_stream_consumer_lag_events"); len(got) != 1 {
		t.Fatalf("gauges %v, want consumer c", got)
	}
	ds.down = true
	if err := lag.Sample(ctx); err == nil {
		t.Fatal("a sample with the store down succeeded")
	}
	if got := gauges(t, reg, "fifthwheel_stream_consumer_lag_events"); len(got) != 0 {
		t.Fatalf("gauges %v after a failed sample, want none", got)
	}
}
