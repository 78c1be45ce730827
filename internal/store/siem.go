package store

import (
	"context"
	"fmt"
	"time"
)

// SIEMStore keeps the SIEM sinks' dead letters (issue 22, package siem): a
// batch of events a sink gave up delivering after its maximum attempts or
// age. The sink records the batch and moves on, so one broken receiver
// does not stop the stream for ever; the batch is kept, listable
// (`fifthwheel siem dead-letters list`), for an operator to replay by hand.
type SIEMStore interface {
	// AddSIEMDeadLetter records d and returns its id. A dead letter of the
	// same sink and stream range (FromPos, ToPos) that already exists is
	// not recorded again (the sink is at least once: a crash after the
	// insert and before the cursor moved gives the same batch again):
	// its id is returned with created false.
	AddSIEMDeadLetter(ctx context.Context, d SIEMDeadLetter) (id int64, created bool, err error)
	// SIEMDeadLetters returns up to limit dead letters (0: DefaultPage, at
	// most MaxPage) with an id after afterID, oldest first; sink "" means
	// every sink.
	SIEMDeadLetters(ctx context.Context, sink string, afterID int64, limit int) ([]SIEMDeadLetter, error)
}

// SIEMDeadLetter is one batch a SIEM sink gave up.
type SIEMDeadLetter struct {
	ID         int64
	Sink       string    // the sink's consumer name, e.g. "sink:webhook"
	FromPos    StreamPos // the batch's first event's stream position
	ToPos      StreamPos // its last event's
	FirstEvent string    // the first event's id
	LastEvent  string    // the last event's id
	Count      int       // events in the batch
	Attempts   int
	LastError  string
	Body       []byte // the batch exactly as the sink sent it
	CreatedAt  time.Time
}

func (d SIEMDeadLetter) valid() error {
	switch {
	case d.Sink == "" || len(d.Sink) > MaxConsumerName:
		return fmt.Errorf("store: a SIEM dead letter needs a sink name of 1 to %d bytes", MaxConsumerName)
	case d.FromPos <= 0 || d.ToPos < d.FromPos || d.Count <= 0:
		return fmt.Errorf("store: a SIEM dead letter needs a stream range and a count")
	case len(d.Body) > MaxSIEMDeadLetterBody:
		return fmt.Errorf("store: a SIEM dead letter's body is over %d bytes", MaxSIEMDeadLetterBody)
	case len(d.LastError) > MaxSIEMDeadLetterError:
		return fmt.Errorf("store: a SIEM dead letter's error is over %d bytes", MaxSIEMDeadLetterError)
	}
	return nil
}
