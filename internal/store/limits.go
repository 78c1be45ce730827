package store

import "time"

// Limits and defaults of the store, in one place.
const (
	// DBFileName is the SQLite database inside the data directory.
	DBFileName = "fifthwheel.db"

	// MaxGroupCommit bounds how many queued write requests the SQLite writer
	// folds into one transaction. Larger batches amortize fsync further
	// (~210 µs on this machine kind) but delay the first caller of the batch.
	MaxGroupCommit = 256

	// MaxCommitRows bounds the work of one SQLite group commit: the rows
	// (frames, events, other writes count one) of the requests it folds in.
	// A heartbeat queued behind a commit in progress waits for at most that
	// commit and its own, each at most this much work; 512 frames already
	// spread the fsync to under half a microsecond a frame. A single request
	// larger than this commits alone.
	MaxCommitRows = 512

	// MaxAppendWindow is the widest out-of-order window AppendFrames takes
	// (package ingest's MaxWindow is this): the width of the counter's mask
	// of heartbeat seqs, a 64-bit column, which is what keeps a late frame
	// from reusing a seq a heartbeat took.
	MaxAppendWindow = 64

	// WriteQueue is the SQLite writer's queue depth; callers block beyond it,
	// which is the store's back-pressure.
	WriteQueue = 4096

	// BusyTimeout is how long SQLite waits on a lock held by another process
	// (for example the CLI revoking a certificate while the gateway runs).
	BusyTimeout = 10 * time.Second

	// PostgresBulkWriters bounds how many bulk writes (store.Bulk: backfill)
	// run at once on PostgreSQL, so a burst of them cannot take every pooled
	// connection and the database's CPU from live writes (heartbeats).
	PostgresBulkWriters = 2

	// SQLiteReaders is the size of the read pool. WAL lets readers run beside
	// the single writer.
	SQLiteReaders = 8

	// CheckpointInterval is how often a background connection copies the
	// SQLite WAL back into the database (PRAGMA wal_checkpoint(PASSIVE)),
	// so the writer never stalls every queued commit for a checkpoint.
	CheckpointInterval = 100 * time.Millisecond

	// WriterAutoCheckpoint (pages) is the writer's own checkpoint threshold,
	// kept only as a safety net should the background checkpointer fall
	// behind (about 40 MiB of WAL).
	WriterAutoCheckpoint = 10000

	// WriterCacheKiB is the writer connection's page cache.
	WriterCacheKiB = 64 << 10

	// PostgresMaxConns bounds one replica's connections to PostgreSQL for
	// everything but heartbeat appends.
	PostgresMaxConns = 16

	// PostgresPriorityConns are one replica's connections kept for heartbeat
	// appends, beside PostgresMaxConns, each with its committer: a burst of
	// telemetry appends can take every other connection, never these. Two
	// let one commit start while the other waits for its WAL flush.
	PostgresPriorityConns = 2

	// PostgresCommitters is how many group commits of other appends run at
	// once on PostgreSQL, each on a connection of the pool: enough to keep
	// the database busy while one waits for its WAL flush, few enough to
	// leave the pool to reads.
	PostgresCommitters = 4

	// PostgresWriteTimeout bounds one group commit of appends on
	// PostgreSQL; the calls in it share it, so no caller's context can cancel
	// the others'. Past it the callers get an error (and refuse the ack)
	// rather than wait on a database that does not answer.
	PostgresWriteTimeout = 10 * time.Second

	// ConnectTimeout bounds the first connection, so a wrong URL fails fast
	// with a clear error instead of hanging the CLI.
	ConnectTimeout = 5 * time.Second

	// DefaultPage is the page size of list calls that take a Limit of 0;
	// MaxPage bounds any Limit.
	DefaultPage = 100
	MaxPage     = 10000

	// MaxConsumerName bounds an event stream consumer's name and holder.
	MaxConsumerName = 128
	// MaxStreamRound bounds the events one PostgreSQL stream sequencer
	// round numbers (stream.go): a round is one short transaction.
	MaxStreamRound = 5000
)

func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPage
	case limit > MaxPage:
		return MaxPage
	}
	return limit
}

// RegistryChangeRetention is how long the registry change feed keeps a
// change (the newest is always kept). A reader that falls further behind
// than this (a gateway whose feed could not be read for an hour) finds a
// gap and drops what it cached; a shorter bound only makes that likelier.
const RegistryChangeRetention = time.Hour

// Tracking (TrackingStore).
const (
	// MaxETAsPerVehicle bounds the ETAs a vehicle keeps: telemetry's eta is
	// not checked against the vehicle's dispatches as it arrives (that
	// would cost a read per frame), so without it an authenticated vehicle
	// could fill the store with ETAs of made-up tenders. A truck carries a
	// few loads at once; the GET shows only a dispatched load's ETA.
	MaxETAsPerVehicle = 16

	// MaxLoadCommands bounds the accepted dispatch and route_update
	// commands of one load of one vehicle that AcceptedLoadCommands
	// returns (a re-route per hour for a week-long run fits).
	MaxLoadCommands = 200
)

// MaxAuditItemsPage bounds one page of AuditItems (and of AuditLeaves): twice the most items a
// leaf covers (audit.MaxLeafItems), so one page can hold a whole leaf and
// a reader's memory stays a few MiB whatever the table holds.
const MaxAuditItemsPage = 16384

// MaxAuditItemsByRef bounds FindAuditItems: an item is appended once, so
// more than a handful under one reference is tampering or a bug, and a
// lookup by reference must not read a table's worth of rows.
const MaxAuditItemsByRef = 16

// Retention (RetentionStore).
const (
	// PurgeBatch is the rows one PurgeFramePayloads call purges when its
	// caller names no limit, and MaxPurgeBatch the most it purges. Half a
	// SQLite group commit (MaxCommitRows): a heartbeat queued behind a
	// purge waits for at most that much work, and a purge never fills a
	// commit alone. On PostgreSQL it keeps the transaction short.
	PurgeBatch    = 256
	MaxPurgeBatch = MaxCommitRows / 2
)

// Retention of resolved incidents (PurgeResolvedIncidents).
const (
	// IncidentPurgeBatch is the incidents one PurgeResolvedIncidents call
	// deletes when its caller names no limit, and MaxIncidentPurgeBatch
	// the most it deletes. An incident is a few to a few hundred rows
	// (its findings, transitions, notes, clocks, notifications and
	// containment actions); 64 keeps one call's transaction about as
	// large as a frame purge's, on the bulk lane behind live writes.
	IncidentPurgeBatch    = 64
	MaxIncidentPurgeBatch = 256
)

// SIEM dead letters (siem.go).
const (
	// MaxSIEMDeadLetterBody bounds one dead letter's stored batch: the
	// SIEM webhook's largest batch (package siem's MaxWebhookBatchBytes)
	// with room to spare.
	MaxSIEMDeadLetterBody = 16 << 20
	// MaxSIEMDeadLetterError bounds the last error kept with it.
	MaxSIEMDeadLetterError = 1024
)
