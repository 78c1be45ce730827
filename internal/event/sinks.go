package event

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// FileSink appends events as JSON lines, one per event, for a SIEM shipper
// to tail. It does not fsync each line; the store sink is the durable record.
type FileSink struct {
	mu sync.Mutex
	f  *os.File
}

// NewFileSink opens (creating, mode 0600) path for appending.
func NewFileSink(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event: open file sink: %w", err)
	}
	return &FileSink{f: f}, nil
}

// Write appends evs, one JSON document per line: each event's encoding,
// the bytes the store row holds.
func (s *FileSink) Write(_ context.Context, evs []Encoded) error {
	n := 0
	for i := range evs {
		n += len(evs[i].Row.Body) + 1
	}
	buf := make([]byte, 0, n)
	for i := range evs {
		buf = append(append(buf, evs[i].Row.Body...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.f.Write(buf)
	return err
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

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
// event (the bus calls it once per event; the events file writes the same
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
