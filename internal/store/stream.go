package store

import (
	"context"
	"fmt"
	"time"
)

// The event stream: the security events in an order in which an event never
// appears before a position a reader has already passed (issue 22). The
// detection engine and the SIEM sinks tail it from a cursor kept in the
// store, so they survive restarts and see every replica's events.
//
// Why not events.seq on PostgreSQL: seq is a BIGSERIAL, taken when the row
// is inserted, not when its transaction commits. A transaction that took
// seq 7 and commits after one that took seq 8 would be skipped by a reader
// that already moved past 8. So PostgreSQL gives each event a stream
// position after it commits (events.stream_seq): one sequencer at a time
// (a transaction advisory lock keyed on the schema) numbers the committed
// rows that have none, continuing from the highest position, and commits;
// the next round starts only after that commit. A row is therefore
// numbered only once it is visible, and every position below a visible one
// is visible already. ReadEventStream runs a round itself before it reads
// (a replica that finds the lock taken skips it: the holder is numbering),
// so there is no separate process to run, and the latency does not depend
// on other transactions. The cost is one UPDATE per event, once. On SQLite
// the one writer commits in seq order: seq is the position.

// StreamPos is a position in the event stream: the events after it have
// greater positions. 0 is the start, before every event.
type StreamPos int64

// StreamEvent is an event with its stream position.
type StreamEvent struct {
	Pos StreamPos
	EventRow
}

// StreamStore is the event stream and its consumers' cursors.
type StreamStore interface {
	// ReadEventStream returns up to limit events (0: DefaultPage, at most
	// MaxPage) after pos, in stream order. Only events whose transaction
	// has ended are returned, so an event never appears later before a
	// position already returned.
	ReadEventStream(ctx context.Context, after StreamPos, limit int) ([]StreamEvent, error)
	// EventStreamHead returns the position of the last event the stream
	// can return now (0 when there is none).
	EventStreamHead(ctx context.Context) (StreamPos, error)

	// ClaimStreamConsumer takes or renews the named consumer's lease for
	// holder until ttl from the store's clock, and returns the consumer's
	// cursor. created is true when the consumer did not exist: it starts
	// at position 0, or with atHead at the stream's head (the last
	// event the stream can return now), set in the same statement, so a
	// crash cannot leave a new head-starting consumer at the beginning.
	// ErrLeaseHeld while another holder's lease runs. One consumer name is
	// served by one holder at a time, across replicas.
	ClaimStreamConsumer(ctx context.Context, name, holder string, ttl time.Duration, atHead bool) (pos StreamPos, created bool, err error)
	// AdvanceStreamConsumer moves the named consumer's cursor to pos, if
	// holder still holds its lease (ErrLeaseHeld otherwise: the caller
	// lost it and must stop) and pos is not before the cursor (ErrConflict:
	// a cursor never moves back).
	AdvanceStreamConsumer(ctx context.Context, name, holder string, pos StreamPos) error
	// ReleaseStreamConsumer ends holder's lease (a clean shutdown), so
	// another replica takes over without waiting for it to expire. No
	// error if holder does not hold it.
	ReleaseStreamConsumer(ctx context.Context, name, holder string) error
	// StreamConsumers lists every consumer and its cursor, by name.
	StreamConsumers(ctx context.Context) ([]StreamConsumer, error)
}

// StreamConsumer is a consumer of the event stream as stored.
type StreamConsumer struct {
	Name       string
	Pos        StreamPos
	Holder     string    // "" when released
	LeaseUntil time.Time // zero when released
	Updated    time.Time
}

// validConsumer checks a consumer name and holder: short printable ASCII.
func validConsumer(name, holder string) error {
	for _, s := range []string{name, holder} {
		if s == "" || len(s) > MaxConsumerName {
			return fmt.Errorf("store: stream consumer name and holder must be 1 to %d bytes", MaxConsumerName)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e {
				return fmt.Errorf("store: stream consumer %q: only printable ASCII without spaces", s)
			}
		}
	}
	return nil
}
