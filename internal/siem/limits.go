package siem

import "time"

// Limits and defaults of the SIEM sinks, in one place.
const (
	// DefaultFileMaxSize rotates the events file at 100 MiB: a file a
	// shipper reads in seconds and an operator can open.
	DefaultFileMaxSize = 100 << 20
	// DefaultFileMaxAge rotates it daily, so each file is one day's events
	// at most.
	DefaultFileMaxAge = 24 * time.Hour
	// DefaultFileKeep keeps 30 rotated files; DefaultFileKeepAge removes
	// rotated files older than 30 days (whichever comes first).
	DefaultFileKeep    = 30
	DefaultFileKeepAge = 30 * 24 * time.Hour
	// maxLastLine bounds how much of the events file's end is read at
	// start to find the last event written (its id is the de-duplication
	// point after a crash). A line is one event: far below this.
	maxLastLine = 1 << 20

	// DefaultWebhookBatch is how many events one webhook POST carries.
	DefaultWebhookBatch = 100
	// MaxWebhookBatch bounds it (a dead letter's body stays far below
	// store.MaxSIEMDeadLetterBody: events are a few KiB each).
	MaxWebhookBatch = 1000
	// DefaultWebhookMaxAttempts and DefaultWebhookMaxAge: a batch is a
	// dead letter after 10 failed attempts or an hour since its first
	// failure, whichever comes first. With the tail's back-off (1 s
	// doubling to 5 min) ten attempts span about 15 minutes.
	DefaultWebhookMaxAttempts = 10
	DefaultWebhookMaxAge      = time.Hour
	// DefaultWebhookTimeout bounds one POST.
	DefaultWebhookTimeout = 10 * time.Second
	// MaxResponseBody is how much of a receiver's answer is read.
	MaxResponseBody = 64 << 10

	// DefaultSyslogTimeout bounds dialling and writing one batch.
	DefaultSyslogTimeout = 10 * time.Second
	// DefaultSyslogFacility is 10, security/authorization (authpriv,
	// RFC 5424 §6.2.1).
	DefaultSyslogFacility = 10
	// DefaultSDID is the structured data element's id. 32473 is the
	// private enterprise number RFC 5612 reserves for documentation; a
	// deployment with its own number configures siem.syslog.sd_id.
	DefaultSDID = "fifthwheel@32473"
	// maxSyslogField bounds the header fields RFC 5424 §6 bounds:
	// HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32 octets. MSG is not
	// bounded here: octet counting (RFC 5425 §4.3) frames any length, an
	// OCSF event is a few KiB, and a cut JSON document would be useless.
	maxHostname = 255
	maxAppName  = 48
	maxMsgID    = 32

	// DefaultNATSPrefix is the subject prefix; DefaultNATSStream the
	// JetStream stream the sink creates when it does not exist.
	DefaultNATSPrefix = "fifthwheel.events"
	DefaultNATSStream = "FIFTHWHEEL_EVENTS"
	// DefaultNATSDuplicates is the stream's duplicate window for a stream
	// the sink creates: longer than any back-off between two attempts to
	// publish one event.
	DefaultNATSDuplicates = 10 * time.Minute
	// DefaultNATSTimeout bounds one publish and its ack.
	DefaultNATSTimeout = 5 * time.Second

	// Tail back-off of the sinks that talk to a network peer: start at a
	// second, double up to five minutes (a SIEM that is down for an hour
	// gets twelve attempts an hour, not thousands).
	netMinBackoff = time.Second
	netMaxBackoff = 5 * time.Minute
)
