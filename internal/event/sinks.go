package event

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Appender is the one store method the store sink needs.
type Appender interface {
	AppendEvents(ctx context.Context, evs []store.EventRow) error
}

// StoreSink records events durably in the store's events table.
type StoreSink struct{ st Appender }

// NewStoreSink returns a sink appending to st.
func NewStoreSink(st Appender) *StoreSink { return &StoreSink{st: st} }

// Write appends evs in one durable write.
func (s *StoreSink) Write(ctx context.Context, evs []Encoded) error {
	rows := make([]store.EventRow, len(evs))
	for i := range evs {
		rows[i] = evs[i].Row
	}
	return s.st.AppendEvents(ctx, rows)
}

// Row is ev as the store's events table holds it: the one encoding of an
// event (the bus calls it once per event and gives every sink the same
// Body).
func Row(ev Event) (store.EventRow, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return store.EventRow{}, err
	}
	return store.EventRow{ID: ev.ID, Time: ev.Time, Class: string(ev.Class), Verdict: string(ev.Verdict),
		Code: ev.Code, Subject: ev.Subject(), Body: body}, nil
}

// MemorySink keeps events in memory; for tests and the demo.
type MemorySink struct {
	mu  sync.Mutex
	evs []Event
}

// Write keeps a copy of evs' events.
func (m *MemorySink) Write(_ context.Context, evs []Encoded) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range evs {
		m.evs = append(m.evs, evs[i].Event)
	}
	return nil
}

// Events returns a copy of what was written.
func (m *MemorySink) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.evs...)
}

// ByCode returns the recorded events with the given code.
func (m *MemorySink) ByCode(code string) []Event {
	var out []Event
	for _, ev := range m.Events() {
		if ev.Code == code {
			out = append(out, ev)
		}
	}
	return out
}
