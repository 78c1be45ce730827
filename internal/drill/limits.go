package drill

import "time"

const (
	// DefaultDrillTimeout bounds one drill: enrollment, the attack and the
	// wait for its event. A drill that has not finished by then fails.
	DefaultDrillTimeout = 20 * time.Second
	// DefaultParallel is how many non-exclusive drills run at once: each
	// is a few TLS handshakes and requests, and the gateway under test
	// shares the machine.
	DefaultParallel = 4
	// DefaultEventWait is how long a drill waits for the gateway's event to be
	// readable in the store after the refusal was answered: the event
	// bus writes before the answer in the common case, the wait covers a
	// loaded machine.
	DefaultEventWait = 5 * time.Second
	// eventPoll is the pause between two reads of the event store.
	eventPoll = 25 * time.Millisecond
	// requestTimeout bounds one HTTP request or TLS handshake of a drill.
	requestTimeout = 10 * time.Second
	// RevocationSLA: a revocation is effective within 1 s: handshakes
	// refused and live sessions closed (docs/THREATMODEL.md, compromised
	// keys; the figure cmd/fifthwheel's typed-close tests hold).
	RevocationSLA = time.Second
	// maxEvidenceEvents bounds the events kept per drill in the report.
	maxEvidenceEvents = 20
)
