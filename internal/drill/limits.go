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
	// raceRenewers is how many chained renewers race the revocation in
	// the revocation-racing-renewal drill (as in issue 15's attack), and
	// raceBefore how many renewals they obtain before the revocation
	// starts: within the gateway's default renewal burst (5), so that
	// some are left to race it.
	raceRenewers = 3
	raceBefore   = 2
	// raceMaxAttempts bounds each renewer's requests and racePause is
	// its pause between two, raceRetryPause after a refusal (each is an
	// event on the gateway): a few seconds of race at most, whatever the
	// gateway's renewal limit.
	raceMaxAttempts = 40
	racePause       = 25 * time.Millisecond
	raceRetryPause  = 100 * time.Millisecond
	// raceMaxHeld bounds the certificates the renewers collect (each is
	// checked, and listed in the report): against a gateway whose
	// renewal limit is high, they stop renewing once they hold this many.
	raceMaxHeld = 24
	// raceSetupWait bounds the wait for the renewals before the
	// revocation.
	raceSetupWait = 5 * time.Second
	// raceMeasureLimit is how long after the revocation the drill keeps
	// measuring when its certificates are refused, beyond which it gives
	// up (the timing is then over its SLA).
	raceMeasureLimit = RevocationSLA + 2*time.Second
	// racePoll is the pause between two rounds of handshakes with the
	// certificates not refused yet.
	racePoll = 25 * time.Millisecond
	// maxEvidenceEvents bounds the events kept per drill in the report.
	maxEvidenceEvents = 20
)
