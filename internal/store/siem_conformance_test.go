package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestSIEMDeadLetterConformance: the SIEM sinks' dead letters (migration
// 0015, provisional 0018) on both engines: kept as given, listed oldest
// first per sink, a re-delivered batch (same sink and range) recorded once,
// bad rows refused.
func TestSIEMDeadLetterConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
		d := store.SIEMDeadLetter{Sink: "sink:webhook", FromPos: 3, ToPos: 7, FirstEvent: "e3", LastEvent: "e7", Count: 5,
			Attempts: 12, LastError: "503 Service Unavailable", Body: []byte(`{"events":[]}`), CreatedAt: t0}
		id, created, err := st.AddSIEMDeadLetter(ctx, d)
		if err != nil || !created || id <= 0 {
			t.Fatalf("add: %d %v %v", id, created, err)
		}
		again, created, err := st.AddSIEMDeadLetter(ctx, d)
		if err != nil || created || again != id {
			t.Fatalf("the same batch again: id %d created %v err %v, want %d false nil", again, created, err, id)
		}
		other := d
		other.Sink, other.CreatedAt = "sink:other", t0.Add(time.Second)
		id2, created, err := st.AddSIEMDeadLetter(ctx, other)
		if err != nil || !created || id2 <= id {
			t.Fatalf("another sink: %d %v %v", id2, created, err)
		}
		got, err := st.SIEMDeadLetters(ctx, "", 0, 0)
		if err != nil || len(got) != 2 || got[0].ID != id || got[1].ID != id2 {
			t.Fatalf("list all: %+v %v", got, err)
		}
		g := got[0]
		if g.Sink != d.Sink || g.FromPos != 3 || g.ToPos != 7 || g.FirstEvent != "e3" || g.LastEvent != "e7" || g.Count != 5 ||
			g.Attempts != 12 || g.LastError != d.LastError || string(g.Body) != string(d.Body) || !g.CreatedAt.Equal(t0) {
			t.Fatalf("stored %+v, want %+v", g, d)
		}
		if got, _ := st.SIEMDeadLetters(ctx, "sink:webhook", 0, 0); len(got) != 1 || got[0].ID != id {
			t.Fatalf("list one sink: %+v", got)
		}
		if got, _ := st.SIEMDeadLetters(ctx, "", id, 0); len(got) != 1 || got[0].ID != id2 {
			t.Fatalf("list after %d: %+v", id, got)
		}
		for name, bad := range map[string]store.SIEMDeadLetter{
			"no sink":    {FromPos: 1, ToPos: 1, Count: 1},
			"no range":   {Sink: "s", Count: 1},
			"range back": {Sink: "s", FromPos: 5, ToPos: 4, Count: 1},
			"no count":   {Sink: "s", FromPos: 1, ToPos: 1},
			"huge error": {Sink: "s", FromPos: 1, ToPos: 1, Count: 1, LastError: strings.Repeat("x", store.MaxSIEMDeadLetterError+1)},
			"huge body":  {Sink: "s", FromPos: 1, ToPos: 1, Count: 1, Body: make([]byte, store.MaxSIEMDeadLetterBody+1)},
		} {
			if _, _, err := st.AddSIEMDeadLetter(ctx, bad); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}
